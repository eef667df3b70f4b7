package pgtest

import (
	"fmt"
	"os"
	"syscall"

	"github.com/ninesid/nines/internal/pgproc"
)

// BinDir is where Debian's postgresql-15 package installs the server binaries.
const BinDir = pgproc.BinDir

// mkdir creates a directory that the server user owns, mode 0700.
func mkdirTemp(r pgproc.Runner, base string) (string, error) {
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if err := r.Own(dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("pgtest: %w", err)
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
