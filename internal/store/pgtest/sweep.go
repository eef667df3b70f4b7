package pgtest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ninesid/nines/internal/pgproc"
)

// ownerFile names, inside a cluster's directory, the pid of the test process that
// started it.
const ownerFile = "owner.pid"

// markOwner records this process as the owner of the cluster directory dir.
func markOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// sweep removes the cluster directories in base whose owning test process is gone: a
// test binary that was killed stopped its servers (parent-death signal) but could not
// remove their files, which on /dev/shm hold memory. A directory without an owner file,
// or whose owner lives, is left alone: it may be another test process's cluster.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "pgtest-*"))
	const maxSwept = 100 // bound the work of one call
	for i, dir := range dirs {
		if i == maxSwept {
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			removeDead(dir)
		}
	}
}

// removeDead removes a dead test process's cluster directory, and the System V segments
// of its servers, which died by the parent-death signal (SIGKILL).
func removeDead(dir string) {
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "*", "postmaster.pid"))
	for _, f := range pidFiles {
		pgproc.RemoveShm(pgproc.ReadPidFile(filepath.Dir(f)))
	}
	_ = os.RemoveAll(dir)
}
