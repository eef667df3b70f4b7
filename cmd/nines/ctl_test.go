package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/admin"
	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store/sqlite"
)

// adminServer is the real admin API on a fresh SQLite database, with one global token.
func adminServer(t *testing.T) (url, token string) {
	t.Helper()
	ctx := context.Background()
	b, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nines.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tok, digest := apitoken.Generate()
	if _, err := b.Store().CreateAPIToken(ctx, apitoken.Token{Name: "ops", Digest: digest}); err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	mux := http.NewServeMux()
	admin.New(admin.Config{Store: b.Store(), Passwords: password.New(password.Config{}), KEK: kek,
		PublicURL: "http://127.0.0.1", Logger: slog.New(slog.DiscardHandler)}).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, tok
}

func TestCtlReadonly(t *testing.T) {
	url, token := adminServer(t)
	tests := []struct {
		name       string
		args       []string
		token      string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "status", args: []string{"ctl", "readonly", "--server", url}, token: token, wantCode: 0,
			wantStdout: []string{"mode: normal", "explicit switch: off", "this admin process only"}},
		{name: "on", args: []string{"ctl", "readonly", "on", "--reason", "db upgrade", "--server", url}, token: token, wantCode: 0,
			wantStdout: []string{"mode: read_only", "reason: switched on by an operator: db upgrade", "set by token ops"}},
		{name: "status while on", args: []string{"ctl", "readonly", "--server", url}, token: token, wantCode: 0,
			wantStdout: []string{"mode: read_only"}},
		{name: "off", args: []string{"ctl", "readonly", "off", "--server", url}, token: token, wantCode: 0,
			wantStdout: []string{"mode: normal"}},
		{name: "bad switch", args: []string{"ctl", "readonly", "maybe", "--server", url}, token: token, wantCode: 2,
			wantStderr: []string{`"maybe": want on, off`}},
		{name: "reason without on", args: []string{"ctl", "readonly", "off", "--reason", "x", "--server", url}, token: token, wantCode: 2,
			wantStderr: []string{"--reason goes with 'on'"}},
		{name: "no token", args: []string{"ctl", "readonly", "--server", url}, wantCode: 2,
			wantStderr: []string{"set NINES_ADMIN_TOKEN"}},
		{name: "wrong token", args: []string{"ctl", "readonly", "on", "--server", url}, token: "nines_wrong", wantCode: 1,
			wantStderr: []string{"HTTP 401", "check NINES_ADMIN_TOKEN"}},
		{name: "clear text to a remote host", args: []string{"ctl", "readonly", "--server", "http://idp.example.com"}, token: token,
			wantCode: 2, wantStderr: []string{"refusing to send the admin token in clear text"}},
		{name: "server down", args: []string{"ctl", "readonly", "--server", "http://127.0.0.1:1"}, token: token, wantCode: 1,
			wantStderr: []string{"readonly: GET http://127.0.0.1:1/admin/v1/readonly"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NINES_ADMIN_TOKEN", tt.token)
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
