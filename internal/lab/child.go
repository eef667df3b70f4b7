package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Bounds of the waits on a child.
const (
	stopTimeout  = 15 * time.Second // SIGTERM (or SIGINT) → exit, then SIGKILL
	killWait     = 10 * time.Second // SIGKILL → reaped
	readyPoll    = 100 * time.Millisecond
	logTailLines = 30
)

// childSpec is how to run one process of the lab. internal/proc runs children for the
// tests, but keeps their output in memory; a lab runs for hours, so its children write
// to log files, and PostgreSQL must run as the postgres user when the lab runs as root.
type childSpec struct {
	name string
	path string
	args []string
	env  []string // the whole environment: nothing is inherited
	log  string   // appended to
	cred *syscall.Credential
	// stopSig asks the child to stop: SIGTERM for nines, SIGINT (fast shutdown) for
	// PostgreSQL.
	stopSig syscall.Signal
	// ready reports nil once the child serves (polled by waitReady).
	ready func(ctx context.Context) error
}

// child is a process of the lab and its later restarts. Its methods are safe for
// concurrent use.
type child struct {
	spec childSpec

	mu   sync.Mutex
	cur  *childRun
	runs int
}

type childRun struct {
	pid  int
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // read after done
}

func (r *childRun) exited() bool {
	if r == nil {
		return true
	}
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// start starts the child (again); it does not wait for readiness.
func (c *child) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cur.exited() {
		return fmt.Errorf("lab: %s is already running (pid %d)", c.spec.name, c.cur.pid)
	}
	logf, err := os.OpenFile(c.spec.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %s: %w", c.spec.name, err)
	}
	if c.runs > 0 {
		fmt.Fprintf(logf, "\n=== lab: %s start #%d at %s ===\n", c.spec.name, c.runs+1, time.Now().UTC().Format(time.RFC3339))
	}
	cmd := exec.Command(c.spec.path, c.spec.args...)
	cmd.Env = append([]string{}, c.spec.env...) // never nil: exec would inherit ours
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, // a kill reaches everything it starts (PostgreSQL's backends)
		// SIGKILL when the thread that forked it ends: the goroutine below keeps its
		// thread until the child has exited, so a lab supervisor that dies (even by
		// SIGKILL) takes every child with it.
		Pdeathsig:  syscall.SIGKILL,
		Credential: c.spec.cred,
	}
	r := &childRun{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		logf.Close() // the child has its own copy
		if err != nil {
			started <- err
			return
		}
		r.pid = cmd.Process.Pid
		started <- nil
		r.err = cmd.Wait()
		close(r.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("lab: start %s: %w", c.spec.name, err)
	}
	c.cur = r
	c.runs++
	return nil
}

func (c *child) current() *childRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// runCount is how many times the child was started.
func (c *child) runCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs
}

// pid is the running child's process ID, 0 when it is not running.
func (c *child) pid() int {
	r := c.current()
	if r.exited() {
		return 0
	}
	return r.pid
}

// done is closed when the current run exits (a closed channel when nothing runs).
func (c *child) done() <-chan struct{} {
	r := c.current()
	if r == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return r.done
}

// exitErr is the last run's exit error, once it has exited.
func (c *child) exitErr() error {
	r := c.current()
	if r == nil || !r.exited() {
		return nil
	}
	return r.err
}

// waitReady polls spec.ready until it reports nil, for at most timeout; it fails at
// once, with the end of the child's log, if the child exits.
func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	r := c.current()
	if r == nil {
		return fmt.Errorf("lab: %s was not started", c.spec.name)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = c.spec.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("lab: %s exited before it was ready (%v); end of %s:\n%s", c.spec.name, r.err, c.spec.log,
				tailFile(c.spec.log, logTailLines))
		case <-ctx.Done():
			return fmt.Errorf("lab: %s not ready after %v: %v; end of %s:\n%s", c.spec.name, timeout, last, c.spec.log,
				tailFile(c.spec.log, logTailLines))
		case <-time.After(readyPoll):
		}
	}
}

// stop asks the child to stop (spec.stopSig), waits at most stopTimeout, then kills its
// process group. It returns nil if nothing ran.
func (c *child) stop() error {
	r := c.current()
	if r.exited() {
		return nil
	}
	_ = syscall.Kill(r.pid, c.spec.stopSig)
	select {
	case <-r.done:
		return nil
	case <-time.After(stopTimeout):
	}
	return errors.Join(fmt.Errorf("lab: %s did not stop within %v; killed", c.spec.name, stopTimeout), c.kill())
}

// kill sends SIGKILL to the child's process group and waits until it has been reaped.
func (c *child) kill() error {
	r := c.current()
	if r.exited() {
		return nil
	}
	_ = syscall.Kill(-r.pid, syscall.SIGKILL)
	select {
	case <-r.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("lab: %s (pid %d) still running %v after SIGKILL", c.spec.name, r.pid, killWait)
	}
}

// tailFile is the last n lines of the file at path.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
