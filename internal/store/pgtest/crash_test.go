package pgtest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store/pgtest"
)

// crashChildEnv passes the base directory to the child test process.
const crashChildEnv = "PGTEST_CRASH_CHILD"

// TestCrashedTestLeavesNothing kills a test process that runs a cluster, then checks
// that its servers died with it and that the next cluster removes its directory.
func TestCrashedTestLeavesNothing(t *testing.T) {
	base, err := os.MkdirTemp("", "pgtest-crash-base-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // the postgres user must reach its directory
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), crashChildEnv+"="+base)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	segs, dir := readChild(t, bufio.NewScanner(out))
	t.Logf("child reported after %v", time.Since(t0))
	_ = child.Process.Kill()
	_ = child.Wait()

	for _, seg := range segs {
		waitGone(t, seg.pid)
	}
	t.Logf("servers gone after %v", time.Since(t0))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("cluster directory %s gone before the sweep: %v", dir, err)
	}
	pgtest.Start(t, pgtest.Options{BaseDir: filepath.Dir(dir)})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed test's directory %s is still there after the next Start (%v)", dir, err)
	}
	for _, seg := range segs {
		if !seg.gone() {
			t.Errorf("shared memory segment %d of crashed postmaster %d is still there", seg.id, seg.pid)
		}
	}
}

// readChild reads "server PID SHMID" lines and a "dir D" line from the child, at most
// 100 lines.
func readChild(t *testing.T, sc *bufio.Scanner) (segs []segment, dir string) {
	t.Helper()
	var lines []string
	for i := 0; i < 100 && sc.Scan(); i++ {
		lines = append(lines, sc.Text())
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "server":
			pid, errP := strconv.Atoi(f[1])
			id, errI := strconv.Atoi(f[2])
			if errP != nil || errI != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			segs = append(segs, segment{id: id, pid: pid})
		case len(f) == 2 && f[0] == "dir":
			return segs, f[1]
		}
	}
	t.Fatalf("child ended without reporting its cluster (%v):\n%s", sc.Err(), strings.Join(lines, "\n"))
	return nil, ""
}

// waitGone waits (at most 10s) until process pid has exited: no such process, or a
// zombie that its new parent (init) has not reaped yet.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !exited(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still runs 10s after its test process was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrashChild is the process TestCrashedTestLeavesNothing kills; it does nothing
// unless started by it.
func TestCrashChild(t *testing.T) {
	base := os.Getenv(crashChildEnv)
	if base == "" {
		return
	}
	c, err := pgtest.New(pgtest.Options{Replicas: 1, BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range append([]string{c.PrimaryURL()}, c.ReplicaURLs()...) {
		seg := segmentOf(t, dataDir(t, u))
		fmt.Printf("server %d %d\n", seg.pid, seg.id)
	}
	fmt.Printf("dir %s\n", filepath.Dir(dataDir(t, c.PrimaryURL())))
	time.Sleep(30 * time.Second) // killed long before
	t.Error("not killed")
}

func exited(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
