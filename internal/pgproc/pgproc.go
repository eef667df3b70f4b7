// Package pgproc runs PostgreSQL 15 server programs from Debian's package: as the
// postgres system user when nines runs as root (initdb and postgres refuse root), in a
// process group of their own with SIGKILL when the parent dies, and cleans up after a
// killed postmaster. The test clusters (internal/store/pgtest) and the lab
// (internal/lab) share it.
package pgproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// BinDir is where Debian's postgresql-15 package installs the server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// CheckBinaries reports, with the install instruction, when the server binaries are
// missing from dir.
func CheckBinaries(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("PostgreSQL 15 server binaries not found in %s: run apt-get install -y postgresql", dir)
		}
	}
	return nil
}

// Runner starts the server programs, as the postgres system user when this process is
// root.
type Runner struct {
	cred *syscall.Credential // nil: run as the current user
}

// NewRunner picks the user to run the server programs as.
func NewRunner() (Runner, error) {
	if os.Geteuid() != 0 {
		return Runner{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return Runner{}, fmt.Errorf("running as root needs the postgres system user (%v): run apt-get install -y postgresql", err)
	}
	uid, errU := strconv.ParseUint(u.Uid, 10, 32)
	gid, errG := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(errU, errG); err != nil {
		return Runner{}, fmt.Errorf("postgres system user: %w", err)
	}
	return Runner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// Credential is the user the programs run as; nil: the current user.
func (r Runner) Credential() *syscall.Credential { return r.cred }

// Command prepares path with args: a minimal environment, the server user, a process
// group of its own (so a kill reaches every backend) and SIGKILL when this process dies,
// so a crash leaves no server behind.
func (r Runner) Command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Run runs path to completion; its combined output is in the error.
func (r Runner) Run(ctx context.Context, path string, args ...string) error {
	if out, err := r.Command(ctx, path, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(path), err, out)
	}
	return nil
}

// Own gives path to the server user (nothing when it is the current user).
func (r Runner) Own(path string) error {
	if r.cred == nil {
		return nil
	}
	return os.Chown(path, int(r.cred.Uid), int(r.cred.Gid))
}

// ReadPidFile returns the trimmed lines of a data directory's postmaster.pid (line 1:
// the postmaster's pid; line 7: the System V shared memory key and id; line 8: the
// status); nil when there is none.
func ReadPidFile(dataDir string) []string {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return lines
}

// RemoveShm removes the small System V segment that a killed postmaster leaves behind
// (line 7 of postmaster.pid); a clean shutdown removes it itself. Only a segment that
// this postmaster created and that no process uses any more is removed; the wait for the
// killed backends to detach is bounded (2 s).
func RemoveShm(pidLines []string) {
	if len(pidLines) < 7 {
		return
	}
	pid, errP := strconv.Atoi(pidLines[0])
	f := strings.Fields(pidLines[6])
	if errP != nil || len(f) != 2 {
		return
	}
	id, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	for range 200 {
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil || int(d.Cpid) != pid {
			return
		}
		if d.Nattch == 0 {
			_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
