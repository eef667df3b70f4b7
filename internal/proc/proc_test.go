//go:build linux

package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is its own child program: with PROC_TEST_CHILD set, TestMain runs
// the child mode it names instead of the tests.
const childEnv = "PROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child runs one mode and returns its exit status.
//
//	serve:  prints "pid=N mark=M", serves /readyz on PROC_TEST_ADDR (503 until
//	        PROC_TEST_READY_AFTER has passed), exits 0 on SIGTERM (unless
//	        PROC_TEST_IGNORE_TERM=1), or after 60 s.
//	spawn:  starts a "sleep" grandchild in its own process group, prints "grandchild=N",
//	        then sleeps.
//	parent: starts a "sleep" grandchild with proc.Start (its own group, Pdeathsig),
//	        prints "grandchild=N", then sleeps.
//	sleep:  sleeps 60 s.
//	flood:  writes PROC_TEST_BYTES bytes of numbered lines to stdout and stderr, exits 0.
//	fail:   prints "bad settings" to stderr and exits 3.
func child(mode string) int {
	switch mode {
	case "serve":
		term := make(chan os.Signal, 1)
		if os.Getenv("PROC_TEST_IGNORE_TERM") == "1" {
			signal.Ignore(syscall.SIGTERM)
		} else {
			signal.Notify(term, syscall.SIGTERM)
		}
		after, _ := time.ParseDuration(os.Getenv("PROC_TEST_READY_AFTER"))
		readyAt := time.Now().Add(after)
		ln, err := net.Listen("tcp", os.Getenv("PROC_TEST_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if time.Now().Before(readyAt) {
					http.Error(w, "starting", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprintln(w, "ready")
			}))
		}()
		fmt.Printf("pid=%d mark=%s\n", os.Getpid(), os.Getenv("PROC_TEST_MARK"))
		select {
		case <-term:
			fmt.Fprintln(os.Stderr, "got SIGTERM")
			return 0
		case <-time.After(60 * time.Second):
			return 4
		}
	case "spawn":
		cmd := exec.Command(os.Args[0])
		cmd.Env = []string{childEnv + "=sleep"}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("grandchild=%d\n", cmd.Process.Pid)
		time.Sleep(60 * time.Second)
		return 4
	case "parent":
		p, err := Start(Config{Name: "grandchild", Path: os.Args[0], Env: []string{childEnv + "=sleep"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("grandchild=%d\n", p.PID())
		time.Sleep(60 * time.Second)
		return 4
	case "sleep":
		time.Sleep(60 * time.Second)
		return 4
	case "flood":
		n, _ := strconv.Atoi(os.Getenv("PROC_TEST_BYTES"))
		w := bufio.NewWriter(os.Stdout)
		for i := 0; n > 0; i++ {
			line := fmt.Sprintf("line %08d\n", i)
			n -= len(line)
			w.WriteString(line)
		}
		w.Flush()
		fmt.Fprintln(os.Stderr, "flood done")
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, "bad settings")
		return 3
	}
	fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
	return 2
}

// freeAddr is a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startChild starts the test binary in mode with extra environment, closed in cleanup.
func startChild(t *testing.T, mode string, cfg Config) *Process {
	t.Helper()
	cfg.Path = os.Args[0]
	cfg.Env = append([]string{childEnv + "=" + mode}, cfg.Env...)
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.Name(), p.Output())
		}
	})
	return p
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// waitGone waits (bounded) until pid has exited.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	for range 100 {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL) // do not leave it behind for the next test
	t.Fatalf("%s (pid %d) still runs", what, pid)
}

// waitOutput waits (bounded) until the output contains s and returns it.
func waitOutput(t *testing.T, p *Process, s string) string {
	t.Helper()
	for range 200 {
		if out := p.Output(); strings.Contains(out, s) {
			return out
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never wrote %q; output:\n%s", p.Name(), s, p.Output())
	return ""
}

// intAfter reads the decimal number after key in out.
func intAfter(t *testing.T, out, key string) int {
	t.Helper()
	_, rest, ok := strings.Cut(out, key)
	if !ok {
		t.Fatalf("no %q in %q", key, out)
	}
	n, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		t.Fatalf("%q in %q: %v", key, out, err)
	}
	return n
}

// TestLifecycle: start → ready (after a 503 phase) → SIGKILL → restart with the same
// environment (a new PID) → ready → SIGTERM with exit 0; the output holds both runs.
func TestLifecycle(t *testing.T) {
	addr := freeAddr(t)
	p := startChild(t, "serve", Config{Name: "server", ReadyURL: "http://" + addr + "/readyz",
		Env: []string{"PROC_TEST_ADDR=" + addr, "PROC_TEST_READY_AFTER=300ms", "PROC_TEST_MARK=same-env"}})
	first := p.PID()
	if first == 0 || !p.Running() || p.Runs() != 1 || !errors.Is(p.Err(), ErrRunning) {
		t.Fatalf("after Start: pid %d running %v runs %d err %v", first, p.Running(), p.Runs(), p.Err())
	}
	if err := p.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := intAfter(t, waitOutput(t, p, "pid="), "pid="); got != first {
		t.Fatalf("the child says pid %d, PID() = %d", got, first)
	}
	if err := p.Restart(); !errors.Is(err, ErrRunning) {
		t.Fatalf("Restart while running = %v, want ErrRunning", err)
	}

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, first, "the killed child")
	var ee *exec.ExitError
	if err := p.Err(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("Err after Kill = %v, want killed by SIGKILL", err)
	}
	if p.PID() != 0 || p.Running() {
		t.Fatalf("after Kill: pid %d running %v", p.PID(), p.Running())
	}
	if err := p.Kill(); err != nil { // idempotent
		t.Fatalf("second Kill = %v", err)
	}

	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	second := p.PID()
	if second == 0 || second == first || p.Runs() != 2 {
		t.Fatalf("after Restart: pid %d (first %d), runs %d", second, first, p.Runs())
	}
	if err := p.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := waitOutput(t, p, fmt.Sprintf("pid=%d mark=same-env", second))
	if !strings.Contains(out, fmt.Sprintf("pid=%d mark=same-env", first)) || !strings.Contains(out, "start #2") {
		t.Fatalf("output lacks the first run or the restart marker:\n%s", out)
	}

	if err := p.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	waitGone(t, second, "the stopped child")
	if err := p.Err(); err != nil {
		t.Fatalf("Err after a clean SIGTERM exit = %v", err)
	}
	if !strings.Contains(p.Output(), "got SIGTERM") {
		t.Fatalf("the child did not see SIGTERM:\n%s", p.Output())
	}
}

// TestStopKillsAfterTimeout: a child that ignores SIGTERM is killed after StopTimeout,
// and Stop says so.
func TestStopKillsAfterTimeout(t *testing.T) {
	addr := freeAddr(t)
	p := startChild(t, "serve", Config{Name: "stubborn", ReadyURL: "http://" + addr + "/readyz", StopTimeout: 300 * time.Millisecond,
		Env: []string{"PROC_TEST_ADDR=" + addr, "PROC_TEST_IGNORE_TERM=1"}})
	if err := p.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	err := p.Stop()
	if err == nil || !strings.Contains(err.Error(), "did not exit") {
		t.Fatalf("Stop of a child ignoring SIGTERM = %v", err)
	}
	waitGone(t, pid, "the stubborn child")
}

// TestWaitReadyFailsWhenTheChildExits: a child that exits at once fails WaitReady
// with its output, long before the timeout.
func TestWaitReadyFailsWhenTheChildExits(t *testing.T) {
	p := startChild(t, "fail", Config{Name: "failing", ReadyURL: "http://" + freeAddr(t) + "/readyz", ReadyTimeout: time.Minute})
	err := p.WaitReady(t.Context())
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "bad settings") {
		t.Fatalf("WaitReady = %v", err)
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Err = %v, want exit status 3", p.Err())
	}
}

// TestWaitReadyTimesOut: a child that never answers 200 fails WaitReady after
// ReadyTimeout, naming the last answer.
func TestWaitReadyTimesOut(t *testing.T) {
	addr := freeAddr(t)
	p := startChild(t, "serve", Config{Name: "slow", ReadyURL: "http://" + addr + "/readyz", ReadyTimeout: 500 * time.Millisecond,
		Env: []string{"PROC_TEST_ADDR=" + addr, "PROC_TEST_READY_AFTER=1h"}})
	err := p.WaitReady(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not ready") || !strings.Contains(err.Error(), "503 starting") {
		t.Fatalf("WaitReady = %v", err)
	}
	if !p.Running() {
		t.Fatal("WaitReady must not stop the child")
	}
}

// TestKillReachesTheGroup: a grandchild started by the child in the child's process
// group dies with it.
func TestKillReachesTheGroup(t *testing.T) {
	p := startChild(t, "spawn", Config{Name: "spawner"})
	grandchild := intAfter(t, waitOutput(t, p, "grandchild="), "grandchild=")
	if !alive(grandchild) {
		t.Fatalf("grandchild %d is not running", grandchild)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, grandchild, "the grandchild")
}

// TestParentDeathKillsTheChild: a child started with Start by a process that is then
// SIGKILLed (no cleanup can run) dies too (Pdeathsig), although it has a process group
// of its own that the parent's group kill does not reach.
func TestParentDeathKillsTheChild(t *testing.T) {
	p := startChild(t, "parent", Config{Name: "parent"})
	grandchild := intAfter(t, waitOutput(t, p, "grandchild="), "grandchild=")
	if !alive(grandchild) {
		t.Fatalf("grandchild %d is not running", grandchild)
	}
	if pgid, err := syscall.Getpgid(grandchild); err != nil || pgid != grandchild {
		t.Fatalf("grandchild's process group = %d, %v; want its own", pgid, err)
	}
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil { // the parent alone
		t.Fatal(err)
	}
	waitGone(t, grandchild, "the orphaned grandchild")
}

// TestOutputBounded: a child writing 4 MiB leaves at most OutputLimit (plus the
// left-out line) in Output, with its first and last lines.
func TestOutputBounded(t *testing.T) {
	p := startChild(t, "flood", Config{Name: "flood", OutputLimit: 64 << 10, Env: []string{"PROC_TEST_BYTES=4194304"}})
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("flood did not finish")
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	out := p.Output()
	if len(out) > 64<<10+100 || !strings.HasPrefix(out, "line 00000000\n") || !strings.HasSuffix(out, "flood done\n") ||
		!strings.Contains(out, "bytes of output left out") {
		t.Fatalf("output is %d bytes: head %.40q tail %q", len(out), out, out[max(0, len(out)-60):])
	}
}

// TestRun: a one-shot command's output and exit status; a context that ends kills it.
func TestRun(t *testing.T) {
	out, err := Run(t.Context(), Config{Name: "fail", Path: os.Args[0], Env: []string{childEnv + "=fail"}})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || out != "bad settings\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, Config{Name: "sleep", Path: os.Args[0], Env: []string{childEnv + "=sleep"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run past its context = %v", err)
	}
}

// TestStartErrors: no path; a program that does not exist.
func TestStartErrors(t *testing.T) {
	if _, err := Start(Config{}); err == nil {
		t.Fatal("Start without a path succeeded")
	}
	if _, err := Start(Config{Path: "/nonexistent/program"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Fatalf("Start of a missing program = %v", err)
	}
}

// TestBuilder: one build shared by every caller; a broken package fails with go
// build's output; Remove deletes the binary.
func TestBuilder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.26\n")
	write("main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the build\") }\n")
	b := &Builder{Package: ".", Dir: dir}
	bin, err := b.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := b.Build(t.Context()); err != nil || again != bin {
		t.Fatalf("second Build = %q, %v; want %q", again, err, bin)
	}
	if out, err := Run(t.Context(), Config{Path: bin}); err != nil || out != "hello from the build\n" {
		t.Fatalf("the built program: %q, %v", out, err)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("binary after Remove: %v", err)
	}

	write("main.go", "package main\n\nfunc main() { undefinedThing() }\n")
	broken := &Builder{Package: ".", Dir: dir}
	_, err = broken.Build(t.Context())
	var be *BuildError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("Build of a broken package = %v, want a BuildError with the compiler's output", err)
	}
	if err := broken.Remove(); err != nil {
		t.Fatal(err)
	}
}
