package main

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/ninesid/nines/internal/config"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: []string{"nines ", runtime.Version()}},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: []string{"serve", "migrate", "apply", "version"}},
		{name: "no command", args: nil, wantCode: 2, wantStderr: []string{"nines: "}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: []string{"unexpected argument frobnicate"}},
		{name: "unknown flag", args: []string{"serve", "--databse-url=x"}, wantCode: 2, wantStderr: []string{"unknown flag --databse-url"}},
		{name: "unknown role with another problem", args: []string{"serve", "--role=boss", "--log-level=loud"}, wantCode: 2,
			wantStderr: []string{"2 problems", `NINES_ROLE (--role): "boss" is not a role`, "NINES_LOG_LEVEL"}},
		{name: "edge without its settings", args: []string{"serve", "--role=edge"}, wantCode: 2,
			wantStderr: []string{"NINES_EDGE_ROUTES", "NINES_REGION", "NINES_EDGE_CONTROL_TOKEN"}},
		{name: "two bad settings", args: []string{"serve", "--log-level=loud"}, env: map[string]string{"NINES_ZONE": "Bad_Zone"},
			wantCode: 2, wantStderr: []string{"2 problems", "NINES_LOG_LEVEL", "NINES_ZONE"}},
		{name: "unknown env setting", args: []string{"migrate"}, env: map[string]string{"NINES_DATABSE_URL": "x"},
			wantCode: 2, wantStderr: []string{"NINES_DATABSE_URL: unknown setting (did you mean NINES_DATABASE_URL?)"}},
		{name: "apply needs a file", args: []string{"apply"}, wantCode: 2, wantStderr: []string{"--file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t.Chdir(t.TempDir()) // nothing here may create ./nines-data in the source tree
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, &stdout, &stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, &stdout)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, &stderr)
				}
			}
		})
	}
}

// TestEnvNamesKnown: every environment variable the CLI reads is a known name, so
// setting it never triggers the unknown-setting check, and every known name is read.
func TestEnvNamesKnown(t *testing.T) {
	var c cli
	p, err := newParser(&c, streams{}, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	err = kong.Visit(p.Model, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok {
			names = append(names, f.Tag.Envs...)
		}
		return next(nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, "NINES_ADMIN_TOKEN") // read by apply with os.Getenv
	slices.Sort(names)
	names = slices.Compact(names)
	if !slices.Equal(names, config.KnownEnv()) {
		t.Fatalf("CLI env names %v\nconfig.KnownEnv    %v", names, config.KnownEnv())
	}
}
