package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestLabLoadUsage: a command line that cannot name one target, or asks for a flow that
// does not exist, is a usage error (exit 2) that says what to do, and starts nothing.
func TestLabLoadUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no target", []string{"lab", "load"}, nil, "exactly one of --lab DIR, --issuer URL or --provision"},
		{"two targets", []string{"lab", "load", "--lab", "x", "--issuer", "http://127.0.0.1:1/t/a"}, nil, "exactly one of"},
		{"bad mix", []string{"lab", "load", "--provision", "--mix", "password=1,teleport=2"}, nil, "mix"},
		{"provision without token", []string{"lab", "load", "--provision"}, map[string]string{"NINES_ADMIN_TOKEN": ""}, "NINES_ADMIN_TOKEN"},
		{"issuer without tenant", []string{"lab", "load", "--issuer", "http://127.0.0.1:1/"}, nil, "--tenant"},
		{"user without password", []string{"lab", "load", "--issuer", "http://127.0.0.1:1/t/a", "--user", "alice"},
			map[string]string{"NINESLAB_PASSWORD": ""}, "NINESLAB_PASSWORD"},
		{"fault ends before it starts", []string{"lab", "load", "--provision", "--fault-start", "10s", "--fault-end", "5s"}, nil, "--fault-end"},
		{"unknown bench flow", []string{"lab", "bench", "--flows", "teleport"}, nil, `"teleport" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitUsage, &stdout, &stderr)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, &stderr)
			}
		})
	}
}
