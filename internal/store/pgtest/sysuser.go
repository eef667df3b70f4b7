package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// BinDir is where Debian's postgresql-15 package installs the server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// checkBinaries reports, with the install instruction, when the server binaries are
// missing from dir.
func checkBinaries(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("PostgreSQL 15 server binaries not found in %s: run apt-get install -y postgresql", dir)
		}
	}
	return nil
}

// runner starts the server programs, as the postgres system user when the test runs as
// root (initdb and postgres refuse to run as root).
type runner struct {
	cred *syscall.Credential // nil: run as the current user
}

func newRunner() (runner, error) {
	if os.Geteuid() != 0 {
		return runner{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runner{}, fmt.Errorf("running as root needs the postgres system user (%v): run apt-get install -y postgresql", err)
	}
	uid, errU := strconv.ParseUint(u.Uid, 10, 32)
	gid, errG := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(errU, errG); err != nil {
		return runner{}, fmt.Errorf("postgres system user: %w", err)
	}
	return runner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// command prepares path with args. The child gets its own process group (so a kill
// reaches every backend) and SIGKILL when the test binary dies, so a crashed test
// leaves no server behind.
func (r runner) command(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: r.cred,
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

// run runs path to completion; its combined output is in the error.
func (r runner) run(path string, args ...string) error {
	out, err := r.command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(path), err, out)
	}
	return nil
}

// mkdir creates a directory that the server user owns, mode 0700.
func (r runner) mkdirTemp(base string) (string, error) {
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if r.cred != nil {
		if err := os.Chown(dir, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("pgtest: %w", err)
		}
	}
	return dir, nil
}

// baseDir is where clusters live: $TMPDIR when set, else /dev/shm when it is a writable
// directory (a memory file system: initdb and copies are several times faster there
// than on a disk), else the system temporary directory.
func baseDir() string {
	if d := os.Getenv("TMPDIR"); d != "" {
		return d
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && syscall.Access("/dev/shm", 2) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}
