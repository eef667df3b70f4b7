package apply_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ninesid/nines/internal/admin"
	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/apply"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store/sqlite"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// env is a real admin API over a fresh SQLite database, served on loopback, with a
// global token and a count of the requests it received by method.
type env struct {
	t     *testing.T
	url   string
	token string
	dir   string // where test files go
	store *sqlstore.Store

	mu     sync.Mutex
	counts map[string]int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	backend, err := sqlite.Open(ctx, filepath.Join(dir, "nines.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	if err := backend.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, counts: map[string]int{}, store: backend.Store()}
	mux := http.NewServeMux()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.counts[r.Method]++
		e.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	kek := make([]byte, keys.KEKSize)
	_, _ = rand.Read(kek)
	admin.New(admin.Config{
		Store: backend.Store(),
		KEK:   kek,
		Passwords: password.New(password.Config{Params: password.Params{
			Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}}),
		PublicURL: srv.URL,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}).Mount(mux)
	tok, digest := apitoken.Generate()
	if _, err := backend.Store().CreateAPIToken(ctx, apitoken.Token{Name: "test", Digest: digest}); err != nil {
		t.Fatal(err)
	}
	e.url, e.token = srv.URL, tok
	return e
}

// scopedToken creates a token valid for the tenant slug only.
func (e *env) scopedToken(slug string) string {
	e.t.Helper()
	ctx := context.Background()
	tn, err := e.store.TenantBySlug(ctx, slug)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, digest := apitoken.Generate()
	if _, err := e.store.CreateAPIToken(ctx, apitoken.Token{Name: "scoped", TenantID: tn.ID, Digest: digest}); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// writes is how many requests that change state the server has received.
func (e *env) writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[http.MethodPost] + e.counts[http.MethodPatch] + e.counts[http.MethodDelete] + e.counts[http.MethodPut]
}

func (e *env) count(method string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[method]
}

func (e *env) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.counts)
}

// file writes content to name in the env's directory and returns the path.
func (e *env) file(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// run applies the YAML text and returns stdout and the error. stderr must stay empty.
func (e *env) run(yamlText string, mod ...func(*apply.Options)) (string, error) {
	e.t.Helper()
	opts := apply.Options{File: e.file("nines.yaml", yamlText), Server: e.url, Token: e.token}
	for _, m := range mod {
		m(&opts)
	}
	var stdout, stderr bytes.Buffer
	err := apply.Run(context.Background(), opts, &stdout, &stderr)
	if stderr.Len() > 0 {
		e.t.Errorf("stderr is not empty: %q", stderr.String())
	}
	for _, s := range []string{e.token, examplePassword, filePassword} {
		if strings.Contains(stdout.String(), s) || (err != nil && strings.Contains(err.Error(), s)) {
			e.t.Errorf("a secret (%.8s…) appears in the output or the error", s)
		}
	}
	return stdout.String(), err
}

// mustRun is run that fails the test on an error.
func (e *env) mustRun(yamlText string, mod ...func(*apply.Options)) string {
	e.t.Helper()
	out, err := e.run(yamlText, mod...)
	if err != nil {
		e.t.Fatalf("apply: %v\noutput:\n%s", err, out)
	}
	return out
}

func dryRun(o *apply.Options) { o.DryRun = true }

// get reads one admin API resource as a generic JSON value.
func (e *env) get(path string) []byte {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}
