package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Bounds of `lab down`.
const (
	// supervisorStopTimeout bounds the wait for a supervisor to stop its lab after
	// SIGTERM (it stops each tier with stopTimeout per process, in parallel).
	supervisorStopTimeout = 90 * time.Second
	sweepStopTimeout      = 15 * time.Second
)

// Prepare makes dir ready for a new lab. A directory holding a lab whose supervisor is
// gone (a crash, a SIGKILL, a reboot) is cleaned first: every process it lists that
// still runs and is the lab's is stopped, and the directory removed. A directory
// whose supervisor still runs is refused, as is a non-empty directory that is not a
// lab's.
func Prepare(dir string, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("lab: %w", err)
	case isLabDir(dir):
		if st, err := ReadState(dir); err == nil && st.SupervisorP != 0 && st.SupervisorP != os.Getpid() &&
			owned(st.SupervisorP, dir, st.Binary) {
			return fmt.Errorf("lab: a lab is running in %s (supervisor pid %d): run `nines lab down --dir %s` first",
				dir, st.SupervisorP, dir)
		}
		fmt.Fprintf(out, "lab: %s holds a lab that did not stop cleanly; cleaning it first\n", dir)
		if err := Cleanup(dir, out); err != nil {
			return err
		}
	case len(entries) > 0:
		return fmt.Errorf("lab: %s is not empty and is not a lab directory; refusing to use it", dir)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	// 0711: the postgres user must reach its data directories below; the files that
	// hold secrets are 0600.
	if err := os.Chmod(dir, 0o711); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, markerFile), []byte("a nines lab directory: `nines lab down` removes it\n"), 0o644)
}

func isLabDir(dir string) bool {
	for _, f := range []string{markerFile, StateFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// Down stops the lab in dir: SIGTERM to its supervisor, which stops every process and
// removes the directory; then whatever is left (a supervisor that did not finish, or
// none at all) is cleaned as Cleanup does. It returns an error if a process of the
// lab still runs afterwards.
func Down(dir string, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if !isLabDir(dir) {
		return fmt.Errorf("lab: no lab in %s", dir)
	}
	st, _ := ReadState(dir)
	if pid := st.SupervisorP; pid != 0 && pid != os.Getpid() && owned(pid, dir, st.Binary) {
		fmt.Fprintf(out, "lab: stopping the supervisor (pid %d) and its %d processes\n", pid, len(st.Processes))
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone([]int{pid}, supervisorStopTimeout) {
			fmt.Fprintf(out, "lab: the supervisor did not stop within %v; killing it\n", supervisorStopTimeout)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone([]int{pid}, killWait)
		}
	}
	if !isLabDir(dir) { // the supervisor removed it
		return checkGone(st)
	}
	if err := Cleanup(dir, out); err != nil {
		return err
	}
	return checkGone(st)
}

// checkGone reports the processes of st that still run.
func checkGone(st State) error {
	var left []string
	for _, p := range st.Processes {
		if p.PID != 0 && alive(p.PID) && owned(p.PID, st.Dir, st.Binary) {
			left = append(left, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("lab: still running after down: %v", left)
	}
	return nil
}

// Cleanup stops every process the State in dir lists (and every PostgreSQL server
// whose data directory is under dir) that still runs and is this lab's — its command
// line or environment names dir — with SIGTERM (SIGINT for PostgreSQL), then SIGKILL
// to its process group after a bound; then it removes dir. It never signals a PID
// that is not the lab's, such as a reused one.
func Cleanup(dir string, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	if !isLabDir(dir) {
		return fmt.Errorf("lab: %s is not a lab directory; refusing to remove it", dir)
	}
	st, _ := ReadState(dir)
	type victim struct {
		name string
		pid  int
		pg   []string // postmaster.pid lines
	}
	var victims []victim
	seen := map[int]bool{}
	consider := func(name string, pid int, sig syscall.Signal, pg []string) {
		if pid <= 0 || pid == os.Getpid() || seen[pid] || !alive(pid) || !owned(pid, dir, st.Binary) {
			return
		}
		seen[pid] = true
		_ = syscall.Kill(pid, sig)
		victims = append(victims, victim{name: name, pid: pid, pg: pg})
	}
	if st.SupervisorP != 0 {
		consider("supervisor", st.SupervisorP, syscall.SIGTERM, nil)
	}
	for _, p := range st.Processes {
		sig := syscall.SIGTERM
		if p.Kind == KindPostgres {
			sig = syscall.SIGINT
		}
		consider(p.Name, p.PID, sig, nil)
	}
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "pg", "*", "postmaster.pid"))
	for _, f := range pidFiles {
		lines := readPidFile(filepath.Dir(f))
		if len(lines) > 0 {
			pid, _ := strconv.Atoi(lines[0])
			consider("postgres "+filepath.Base(filepath.Dir(f)), pid, syscall.SIGINT, lines)
		}
	}
	var pids []int
	for _, v := range victims {
		fmt.Fprintf(out, "lab: stopping %s (pid %d)\n", v.name, v.pid)
		pids = append(pids, v.pid)
	}
	if !waitGone(pids, sweepStopTimeout) {
		for _, v := range victims {
			if alive(v.pid) {
				fmt.Fprintf(out, "lab: %s (pid %d) did not stop within %v; killing its process group\n", v.name, v.pid, sweepStopTimeout)
				_ = syscall.Kill(-v.pid, syscall.SIGKILL)
				_ = syscall.Kill(v.pid, syscall.SIGKILL)
			}
		}
		waitGone(pids, killWait)
	}
	for _, f := range pidFiles { // the System V segments of servers that died by a kill
		removeShm(readPidFile(filepath.Dir(f)))
	}
	var left []string
	for _, v := range victims {
		if alive(v.pid) {
			left = append(left, fmt.Sprintf("%s (pid %d)", v.name, v.pid))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("lab: could not stop %v; %s kept", left, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	fmt.Fprintf(out, "lab: removed %s\n", dir)
	return nil
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses, which may hold spaces.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// waitGone waits until none of pids runs, at most d; it reports whether they are gone.
func waitGone(pids []int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := false
		for _, p := range pids {
			if alive(p) {
				left = true
				break
			}
		}
		if !left {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// owned reports whether pid is a process of the lab in dir: its command line names dir
// (PostgreSQL's -D, a detached supervisor's --dir), its environment has
// NINESLAB_DIR=dir (every process the lab starts), or it runs binary as `lab up` (a
// foreground supervisor). A PID reused by anything else is never the lab's.
func owned(pid int, dir, binary string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if bytes.Contains(cmdline, []byte(dir+"/")) || bytes.Contains(cmdline, append([]byte(dir), 0)) {
		return true
	}
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil {
		if bytes.Contains(append([]byte{0}, env...), append([]byte("\x00"+labEnv+"="+dir), 0)) {
			return true
		}
	}
	if binary != "" && bytes.Contains(cmdline, []byte("\x00lab\x00up")) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == binary {
			return true
		}
	}
	return false
}
