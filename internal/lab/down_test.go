package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sleeper starts `sleep 300` with env and stops it in cleanup.
func sleeper(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "300")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd
}

// TestCleanupStopsOnlyTheLabsProcesses: a crashed lab's State lists a process that
// still runs (it has the lab's NINESLAB_DIR) and a PID since reused by something else;
// Cleanup stops the first, leaves the second alone, and removes the directory. Prepare
// then makes a fresh lab directory there.
func TestCleanupStopsOnlyTheLabsProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	if err := Prepare(dir, nil); err != nil {
		t.Fatal(err)
	}
	ours := sleeper(t, labEnv+"="+dir)
	other := sleeper(t, labEnv+"="+dir+"-other") // another lab's (a prefix of ours must not match)
	stranger := sleeper(t)
	st := State{Dir: dir, Status: StatusReady, SupervisorP: stranger.Process.Pid, Processes: []Process{
		{Name: "login-a-z", Kind: KindLogin, PID: ours.Process.Pid},
		{Name: "login-b-z", Kind: KindLogin, PID: other.Process.Pid},
		{Name: "gone", Kind: KindLogin, PID: 0},
	}}
	if err := WriteState(st); err != nil {
		t.Fatal(err)
	}
	if !owned(ours.Process.Pid, dir, "") || owned(other.Process.Pid, dir, "") || owned(stranger.Process.Pid, dir, "") {
		t.Fatal("owned() is wrong about the sleepers")
	}
	var out strings.Builder
	if err := Prepare(dir, &out); err != nil { // a stale lab: cleaned first
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "did not stop cleanly") || !strings.Contains(out.String(), "login-a-z") {
		t.Errorf("Prepare said:\n%s", out.String())
	}
	if !waitGone([]int{ours.Process.Pid}, 5*time.Second) {
		t.Error("the lab's leftover process still runs")
	}
	if !alive(other.Process.Pid) || !alive(stranger.Process.Pid) {
		t.Error("Cleanup stopped a process that is not the lab's")
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !os.IsNotExist(err) {
		t.Errorf("the old state survived: %v", err)
	}
	if !isLabDir(dir) {
		t.Error("Prepare did not mark the new lab directory")
	}
	if err := Down(dir, nil); err != nil { // no supervisor, no state: just removed
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Down left %s: %v", dir, err)
	}
}

func TestPrepareRefuses(t *testing.T) {
	t.Run("a directory that is not a lab's", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Prepare(dir, nil); err == nil || !strings.Contains(err.Error(), "not a lab directory") {
			t.Fatalf("Prepare = %v", err)
		}
		if err := Down(dir, nil); err == nil {
			t.Fatal("Down removed a directory that is not a lab's")
		}
		if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a lab whose supervisor runs", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "lab")
		if err := Prepare(dir, nil); err != nil {
			t.Fatal(err)
		}
		sup := sleeper(t, labEnv+"="+dir)
		if err := WriteState(State{Dir: dir, SupervisorP: sup.Process.Pid}); err != nil {
			t.Fatal(err)
		}
		if err := Prepare(dir, nil); err == nil || !strings.Contains(err.Error(), "lab down") {
			t.Fatalf("Prepare = %v", err)
		}
		if !alive(sup.Process.Pid) {
			t.Fatal("Prepare stopped a running supervisor")
		}
	})
}
