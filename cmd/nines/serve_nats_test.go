package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestServeNATSValidation: the nats role's settings are checked with every other
// problem, only --role=nats may set them, and the role refuses a database or a NATS
// client URL.
func TestServeNATSValidation(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantStderr []string
	}{
		{name: "no name or routes", args: []string{"serve", "--role=nats", "--log-level=loud"},
			wantStderr: []string{"3 problems", "NINES_NATS_NAME (--nats-name)", "NINES_NATS_ROUTES (--nats-routes)", "NINES_LOG_LEVEL"}},
		{name: "a database", args: []string{"serve", "--role=nats", "--nats-name=n1"},
			env:        map[string]string{"NINES_NATS_ROUTES": "127.0.0.1:6222", "NINES_DATABASE_URL": "postgres://db/n"},
			wantStderr: []string{"1 problem", "NINES_DATABASE_URL (--database-url): the nats role"}},
		{name: "on the login role", args: []string{"serve", "--role=login"},
			env:        map[string]string{"NINES_NATS_ROUTES": "127.0.0.1:6222"},
			wantStderr: []string{"NINES_NATS_ROUTES (--nats-routes): only the nats role"}},
		{name: "on migrate", args: []string{"migrate", "--nats-name=n1"},
			wantStderr: []string{"1 problem", "NINES_NATS_NAME (--nats-name): only the nats role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", code, exitUsage, &stderr)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, &stderr)
				}
			}
		})
	}
}
