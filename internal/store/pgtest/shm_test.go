package pgtest_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// segment is a server's System V shared-memory segment and the postmaster that made it.
type segment struct{ id, pid int }

// segmentOf reads the segment of the server whose data directory is dataDir.
func segmentOf(t *testing.T, dataDir string) segment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		t.Fatalf("postmaster.pid has %d lines", len(lines))
	}
	pid, errP := strconv.Atoi(strings.TrimSpace(lines[0]))
	f := strings.Fields(lines[6])
	if errP != nil || len(f) != 2 {
		t.Fatalf("postmaster.pid: %q", b)
	}
	id, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return segment{id: id, pid: pid}
}

// gone reports whether the segment no longer exists (its id may have been reused by
// another creator).
func (s segment) gone() bool {
	var d unix.SysvShmDesc
	_, err := unix.SysvShmCtl(s.id, unix.IPC_STAT, &d)
	return err != nil || int(d.Cpid) != s.pid
}

// dataDir asks the server at url for its data directory.
func dataDir(t *testing.T, url string) string {
	t.Helper()
	var dir string
	if err := connect(t, url).QueryRow(t.Context(), `SHOW data_directory`).Scan(&dir); err != nil {
		t.Fatal(err)
	}
	return dir
}
