package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ninesid/nines/internal/pgproc"
)

// settings are the server settings of every node: fast (no durability), replication
// ready, loopback only, no Unix socket, dynamic shared memory as files in the data
// directory (removed with it even after a kill).
var settings = []string{
	"listen_addresses=127.0.0.1",
	"unix_socket_directories=",
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"shared_buffers=16MB",
	"max_connections=200",
	"wal_level=replica",
	"max_wal_senders=10",
	"wal_keep_size=64MB",
	"max_wal_size=64MB",
	"min_wal_size=16MB",
	"wal_writer_delay=10ms",
	"wal_retrieve_retry_interval=100ms",
	"hot_standby=on",
	"hot_standby_feedback=on",
	"autovacuum=off",
	"jit=off",
	"huge_pages=off",
	"dynamic_shared_memory_type=mmap",
	"timezone=UTC",
	"log_timezone=UTC",
	"log_line_prefix=%m [%p] %q%a@%d ",
}

// Bounds of the waits on a server process.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	pollEvery    = 5 * time.Millisecond
)

// node is one postgres server process and its data directory.
type node struct {
	name    string // "primary", "replica1", ...
	dataDir string
	logPath string
	port    int
	extra   []string // role-specific settings
	r       pgproc.Runner

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when stopped
	done chan struct{} // closed when cmd has exited
}

func (n *node) args() []string {
	a := []string{"-D", n.dataDir, "-p", strconv.Itoa(n.port)}
	for _, s := range append(settings[:len(settings):len(settings)], n.extra...) {
		a = append(a, "-c", s)
	}
	return a
}

// running reports whether the server process is up (started and not stopped).
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// start starts the server and waits until it accepts connections (for a hot standby:
// until it is consistent and readable).
func (n *node) start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("pgtest: %s is already running", n.name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	cmd := n.r.Command(context.Background(), filepath.Join(BinDir, "postgres"), n.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start %s: %w", n.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := n.waitReady(ctx, cmd.Process.Pid, done); err != nil {
		shm := n.pidFile()
		killGroup(cmd.Process.Pid)
		<-done
		pgproc.RemoveShm(shm)
		return err
	}
	n.cmd, n.done = cmd, done
	return nil
}

// waitReady polls postmaster.pid until the server with pid reports "ready", the process
// exits, or the wait runs out.
func (n *node) waitReady(ctx context.Context, pid int, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if lines := n.pidFile(); len(lines) >= 8 && lines[0] == strconv.Itoa(pid) && lines[7] == "ready" {
			return nil
		}
		select {
		case <-done:
			return &exitError{node: n.name, log: tail(n.logPath, 20)}
		case <-ctx.Done():
			return fmt.Errorf("pgtest: %s not ready: %w\n%s", n.name, ctx.Err(), tail(n.logPath, 20))
		case <-tick.C:
		}
	}
}

// exitError is a server that exited while starting; bindFailed tells a port collision
// (worth a retry on another port) from anything else.
type exitError struct{ node, log string }

func (e *exitError) Error() string {
	return fmt.Sprintf("pgtest: %s exited while starting:\n%s", e.node, e.log)
}

func (e *exitError) bindFailed() bool { return strings.Contains(e.log, "could not bind") }

// pidFile returns the trimmed lines of postmaster.pid (line 8 is the status).
func (n *node) pidFile() []string { return pgproc.ReadPidFile(n.dataDir) }

// stop ends the server with sig (SIGINT: fast shutdown, SIGQUIT: immediate shutdown,
// SIGKILL: a crash of every process of the server) and waits for it to exit.
func (n *node) stop(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	pid := n.cmd.Process.Pid
	shm := n.pidFile()
	if sig == syscall.SIGKILL {
		killGroup(pid)
	} else {
		_ = syscall.Kill(pid, sig)
	}
	var err error
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
		err = fmt.Errorf("pgtest: %s did not stop within %v; killed", n.name, stopTimeout)
		killGroup(pid)
		<-n.done
	}
	if sig == syscall.SIGKILL {
		pgproc.RemoveShm(shm)
	}
	n.cmd, n.done = nil, nil
	return err
}

// killGroup kills the server's process group: the postmaster and every backend.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// freePort asks the kernel for a free loopback port. Another process may take it before
// postgres binds it; callers retry on a bind failure.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startOnFreePort starts n on a fresh port, retrying a few times when the port was taken.
func (n *node) startOnFreePort(ctx context.Context) error {
	const attempts = 3
	var err error
	for range attempts {
		if n.port, err = freePort(); err != nil {
			return err
		}
		err = n.start(ctx)
		var ee *exitError
		if err == nil || !errors.As(err, &ee) || !ee.bindFailed() {
			return err
		}
	}
	return err
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
