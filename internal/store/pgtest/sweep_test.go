package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestSweep(t *testing.T) {
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	parent := os.Getppid() // alive: it runs this test binary
	tests := []struct {
		name     string
		dir      string
		owner    string // "" means no owner file
		wantKept bool
	}{
		{"dead owner", "pgtest-dead", strconv.Itoa(dead.Process.Pid), false},
		{"living owner", "pgtest-alive", strconv.Itoa(parent), true},
		{"this process", "pgtest-self", strconv.Itoa(os.Getpid()), true},
		{"no owner file", "pgtest-unknown", "", true},
		{"garbage owner", "pgtest-garbage", "not a pid", true},
		{"not ours", "other-dead", strconv.Itoa(dead.Process.Pid), true},
	}
	base := t.TempDir()
	for _, tt := range tests {
		dir := filepath.Join(base, tt.dir)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if tt.owner != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(tt.owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	sweep(base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := os.Stat(filepath.Join(base, tt.dir))
			if kept := err == nil; kept != tt.wantKept {
				t.Errorf("%s kept = %v, want %v", tt.dir, kept, tt.wantKept)
			}
		})
	}
}
