package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/testenv"
)

// buildBinary builds ./cmd/nines once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "nines-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nines")
	out, err := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X main.version="+e2eVersion+" -X main.commit="+e2eCommit, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

// The version stamped into the test binary, as `make build` does.
const (
	e2eVersion = "v0.0.0-e2e"
	e2eCommit  = "e2ecommit"
)

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := buildBinary(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// cleanEnv is the test's environment without any NINES_ variable, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NINES_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestServeBinary runs the built binary the way a newcomer does: `nines serve` with no
// flags in an empty directory, waits for /readyz, sends SIGTERM and expects exit 0.
func TestServeBinary(t *testing.T) {
	bin := binary(t)
	wd := t.TempDir()
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Dir = wd
	cmd.Env = cleanEnv("NINES_HTTP_ADDR=" + addr)
	var stdout, stderr testenv.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ready := false
	for range 300 { // at most ~30s: a wait for start-up, not an assertion on its speed
		select {
		case err := <-exited:
			t.Fatalf("nines exited before ready: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		default:
		}
		if resp, err := client.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ready {
		t.Fatalf("never ready\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}

	if fi, err := os.Stat(filepath.Join(wd, "nines-data", "nines.db")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("./nines-data/nines.db: %v", err)
	}
	if !strings.Contains(stderr.String(), "nines_") || !strings.Contains(stderr.String(), "http://"+addr+"/admin/v1/") {
		t.Fatalf("stderr lacks the bootstrap token and admin URL:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), `"msg":"nines started"`) {
		t.Fatalf("stdout lacks the JSON startup line:\n%s", stdout.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `"msg":"http server drained"`) {
		t.Fatalf("no drain logged:\n%s", stdout.String())
	}
}

// TestServeBinaryBadSettings: two bad settings are both reported, and the exit code is 2.
func TestServeBinaryBadSettings(t *testing.T) {
	bin := binary(t)
	wd := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = wd
	cmd.Env = cleanEnv("NINES_DATABASE_URL=mysql://root:pw@db/x", "NINES_BOOTSTRAP_ADMIN_TOKEN=tinysecret")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want code 2\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"NINES_DATABASE_URL", "NINES_BOOTSTRAP_ADMIN_TOKEN", "2 problems"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), ":pw@") || strings.Contains(stderr.String(), "tinysecret") {
		t.Errorf("stderr leaks a secret:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(wd, "nines-data")); !os.IsNotExist(err) {
		t.Errorf("a refused start created ./nines-data: %v", err)
	}
}

// TestVersionBinary: -ldflags -X sets the version and commit that `nines version` prints.
func TestVersionBinary(t *testing.T) {
	out, err := exec.Command(binary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("nines version: %v\n%s", err, out)
	}
	want := "nines " + e2eVersion + " (commit " + e2eCommit + ", " + runtime.Version()
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("nines version = %q, want prefix %q", out, want)
	}
}
