package pgproc

import (
	"path/filepath"
	"testing"
)

func TestCheckBinaries(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing")
	tests := []struct {
		name    string
		dir     string
		wantErr string
	}{
		{"installed", BinDir, ""},
		{"missing", missing, "PostgreSQL 15 server binaries not found in " + missing + ": run apt-get install -y postgresql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBinaries(tt.dir)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("CheckBinaries(%q) = %q, want %q", tt.dir, got, tt.wantErr)
			}
		})
	}
}
