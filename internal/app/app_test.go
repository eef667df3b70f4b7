package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/config"

	"github.com/ninesid/nines/internal/testenv"
)

// testConfig is a valid embedded-default config listening on a free loopback port.
func testConfig(t *testing.T, dataDir string) config.Config {
	t.Helper()
	c := config.Config{
		HTTPAddr:        "127.0.0.1:0",
		DataDir:         dataDir,
		LogLevel:        "debug",
		ShutdownTimeout: 10 * time.Second,
		Environ:         []string{},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// running is an app started by start.
type running struct {
	addr    string
	base    string
	console *testenv.Buffer
	log     *testenv.Buffer
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// stop cancels the app and returns Run's error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	r.stopped = true
	return <-r.done
}

// start runs the app in the background and waits until it reports ready (or fails).
func start(t *testing.T, o Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{console: &testenv.Buffer{}, log: &testenv.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	o.Console, o.Log = r.console, r.log
	if o.Role == "" {
		o.Role = RoleAll
	}
	ready := make(chan struct{})
	o.Ready = func(addr, _ string) {
		r.addr, r.base = addr, "http://"+addr
		close(ready)
	}
	go func() { r.done <- Run(ctx, o) }()
	select {
	case <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("Run returned before ready: %v\nlog:\n%s", err, r.log.String())
	}
	t.Cleanup(func() {
		if !r.stopped {
			_ = r.stop(t)
		}
	})
	return r
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

var tokenPattern = regexp.MustCompile(`nines_[A-Za-z0-9_-]{43}`)

func TestServeEmbeddedDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := start(t, Options{Config: testConfig(t, dir)})

	if code, body := get(t, r.base+"/healthz", ""); code != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %s", code, body)
	}
	code, body := get(t, r.base+"/readyz", "")
	var rd readiness
	if err := json.Unmarshal(body, &rd); err != nil || code != 200 {
		t.Fatalf("readyz = %d %s (%v)", code, body, err)
	}
	if rd.Status != "ready" || rd.Role != RoleAll || len(rd.Databases) != 1 || !rd.Databases[0].Healthy ||
		rd.Databases[0].Name != filepath.Join(dir, "nines.db") {
		t.Fatalf("readyz body: %+v", rd)
	}

	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", fi.Mode(), err)
	}

	// The generated token is printed once to the console with the admin URL, saved 0600,
	// and works against the admin API.
	console := r.console.String()
	tokens := tokenPattern.FindAllString(console, -1)
	if len(tokens) != 1 {
		t.Fatalf("console should show exactly one token, got %d:\n%s", len(tokens), console)
	}
	tok := tokens[0]
	if !strings.Contains(console, r.base+"/admin/v1/") || !strings.Contains(console, filepath.Join(dir, "bootstrap-admin-token")) {
		t.Fatalf("console lacks the admin URL or the file:\n%s", console)
	}
	saved, err := os.ReadFile(filepath.Join(dir, "bootstrap-admin-token"))
	if err != nil || strings.TrimSpace(string(saved)) != tok {
		t.Fatalf("saved token %q, %v", saved, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bootstrap-admin-token")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode())
	}
	if code, body := get(t, r.base+"/admin/v1/tenants?secret-query=hunter2", tok); code != 200 {
		t.Fatalf("GET tenants with the token = %d %s", code, body)
	}
	if code, _ := get(t, r.base+"/admin/v1/tenants", "nines_wrong"); code != 401 {
		t.Fatalf("GET tenants with a wrong token = %d", code)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}

	// The JSON log has the startup line and access lines, and never the token or query.
	log := r.log.String()
	for _, leak := range []string{tok, "hunter2", "secret-query"} {
		if strings.Contains(log, leak) {
			t.Errorf("log leaks %q", leak)
		}
	}
	for _, want := range []string{`"msg":"nines started"`, `"route":"GET /admin/v1/tenants"`, `"route":"GET /healthz"`,
		`"request_id":"`, `"admin_api":"` + r.base + `/admin/v1/"`, `"msg":"http server drained"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}

	// A second start on the same data finds the global token and prints nothing.
	r2 := start(t, Options{Config: testConfig(t, dir)})
	if code, _ := get(t, r2.base+"/admin/v1/tenants", tok); code != 200 {
		t.Fatalf("token after restart = %d", code)
	}
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	if c := r2.console.String(); tokenPattern.MatchString(c) {
		t.Fatalf("restart printed a token again:\n%s", c)
	}
}

func TestServeConfiguredBootstrapToken(t *testing.T) {
	dir := t.TempDir()
	tok := "configured-bootstrap-token-0123456789"
	for i := range 2 { // the second start finds the token and must not fail or duplicate
		cfg := testConfig(t, dir)
		cfg.BootstrapAdminToken = config.Secret(tok)
		r := start(t, Options{Config: cfg, Role: RoleAdmin})
		if code, body := get(t, r.base+"/admin/v1/tenants", tok); code != 200 {
			t.Fatalf("start %d: GET tenants = %d %s", i, code, body)
		}
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
		if c := r.console.String(); c != "" {
			t.Fatalf("start %d printed to the console:\n%s", i, c)
		}
		if strings.Contains(r.log.String(), tok) {
			t.Fatalf("log leaks the configured token")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bootstrap-admin-token")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a configured token must not be written to a file: %v", err)
	}
}

func TestShutdownTurnsNotReady(t *testing.T) {
	var (
		r          *running
		code       int
		body       []byte
		healthCode int
	)
	o := Options{Config: testConfig(t, t.TempDir())}
	o.NotReady = func() {
		// Still serving, but no longer ready.
		code, body = get(t, r.base+"/readyz", "")
		healthCode, _ = get(t, r.base+"/healthz", "")
	}
	r = start(t, o)
	if c, _ := get(t, r.base+"/readyz", ""); c != 200 {
		t.Fatalf("readyz before shutdown = %d", c)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"status":"shutting_down"`) {
		t.Fatalf("readyz while shutting down = %d %s", code, body)
	}
	if healthCode != 200 {
		t.Fatalf("healthz while shutting down = %d", healthCode)
	}
	// After Run returned, nothing listens any more.
	if _, err := client.Get(r.base + "/healthz"); err == nil {
		t.Fatal("server still answers after Run returned")
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		role  Role
		usage bool // a usage error before anything starts
	}{
		{role: RoleLogin, usage: true},
		{role: RoleWorker, usage: true},
		{role: RoleEdge, usage: true},
		{role: "nope", usage: true},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			err := Run(context.Background(), Options{Config: testConfig(t, dir), Role: tt.role, Log: io.Discard, Console: io.Discard})
			if errors.Is(err, ErrUsage) != tt.usage {
				t.Fatalf("Run = %v, usage error want %v", err, tt.usage)
			}
			want := ""
			switch tt.role {
			case RoleLogin:
				want = "the login role reads replicas only"
			case RoleWorker:
				want = "the worker role consumes the deployment's command stream"
			case RoleEdge:
				want = "the edge role needs NINES_EDGE_ROUTES"
			}
			if tt.role != "nope" && !strings.Contains(err.Error(), want) {
				t.Fatalf("message: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused role must not create the data dir: %v", err)
			}
		})
	}
}

func TestListenFailureReturnsError(t *testing.T) {
	r := start(t, Options{Config: testConfig(t, t.TempDir())})
	cfg := testConfig(t, t.TempDir())
	cfg.HTTPAddr = r.addr // taken
	err := Run(context.Background(), Options{Config: cfg, Role: RoleAll, Log: io.Discard, Console: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a taken port = %v", err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig(t, dir)
	var log bytes.Buffer
	for i := range 2 {
		if err := Migrate(context.Background(), cfg, &log); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nines.db")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `"msg":"migrations applied"`) {
		t.Fatalf("log:\n%s", log.String())
	}
}
