package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store/pgtest"
)

// miniEdge stands in for the edge of a deployment: admin paths to the admin process,
// everything else to the login process. Both are set once they run.
type miniEdge struct {
	srv          *httptest.Server
	admin, login atomic.Pointer[httputil.ReverseProxy]
}

func startMiniEdge(t *testing.T) *miniEdge {
	t.Helper()
	e := &miniEdge{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backend := e.login.Load()
		if strings.HasPrefix(r.URL.Path, "/admin/") {
			backend = e.admin.Load()
		}
		if backend == nil {
			http.Error(w, "no backend yet", http.StatusBadGateway)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func proxyTo(t *testing.T, base string) *httputil.ReverseProxy {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = nil
	p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	return p
}

// TestJustInTimeOnTheLoginRole: `nines serve --role=login` on PostgreSQL replicas, with
// the admin role as a separate process and a stand-in edge in front of both, as
// NINES_PUBLIC_URL. A user the legacy store knows signs in: the login process creates it
// with a POST to the admin API through the public URL (the provision-scoped token made
// with the tokens API), never through the database. With the admin process gone, a
// just-in-time sign-in fails with its message and 503 while an existing user signs in.
func TestJustInTimeOnTheLoginRole(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 1})
	db := cluster.NewDatabase(t)
	broker := startExternalNATS(t)
	edge := startMiniEdge(t)

	adminCfg := config.Config{HTTPAddr: "127.0.0.1:0", PublicURL: edge.srv.URL, DataDir: filepath.Join(t.TempDir(), "admin"),
		DatabaseURL: db.PrimaryURL, KEK: testKEK, BootstrapAdminToken: signinAdminToken, LogLevel: "info",
		ShutdownTimeout: 10 * time.Second, Environ: []string{}}
	if err := adminCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var migrateLog bytes.Buffer
	if err := Migrate(t.Context(), adminCfg, &migrateLog); err != nil {
		t.Fatalf("migrate: %v\n%s", err, migrateLog.String())
	}
	adm := startRole(t, "admin", Options{Config: adminCfg, Role: RoleAdmin})
	edge.admin.Store(proxyTo(t, adm.base))

	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, edge.srv.URL, rp.URL)
	legacy := startLegacyStore(t)
	setUserImport(t, edge.srv.URL, signinAdminToken, "acme", legacy.srv.URL+"/check")
	code, _, b := send(t, http.MethodPost, edge.srv.URL+"/admin/v1/tokens", signinAdminToken, `{"name":"login tier","scope":"provision"}`)
	var created struct{ ID, Token, Scope string }
	if err := json.Unmarshal(b, &created); code != http.StatusCreated || err != nil || created.Scope != "provision" {
		t.Fatalf("create the provisioning token: %d %s", code, b)
	}
	if err := cluster.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}

	loginCfg := config.Config{HTTPAddr: "127.0.0.1:0", PublicURL: edge.srv.URL, DataDir: filepath.Join(t.TempDir(), "login"),
		ReplicaURLs: db.ReplicaURLs, NATSURL: broker.url, KEK: testKEK, LogLevel: "info", ShutdownTimeout: 10 * time.Second,
		Environ: []string{}, ReplicaOnly: true, ProvisioningToken: config.Secret(created.Token)}
	if err := loginCfg.Validate(); err != nil {
		t.Fatalf("login config: %v", err)
	}
	login := startRole(t, "login", Options{Config: loginCfg, Role: RoleLogin})
	edge.login.Store(proxyTo(t, login.base))
	pollLoginReadyz(t, login.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })

	f := jitClient(t, edge.srv.URL+"/t/acme", rp.URL, secret)
	req, pg := f.submitLogin(t, "newbie", legacyPassword)
	// The token endpoint reads the user from a replica: let the new row arrive there
	// (the sign-in itself used the admin API's answer, not a replica).
	if err := cluster.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, idt := f.redeem(t, req, pg)
	u, ok := adminUserByName(t, edge.srv.URL, signinAdminToken, "acme", "newbie")
	if !ok || u.ID != idt.Subject || !u.HasPassword {
		t.Fatalf("admin API user %+v (found %v), want the ID token's subject %s with a password", u, ok, idt.Subject)
	}
	// The admin process created it, for the provisioning token: its audit line says so.
	audited := false
	for _, line := range strings.Split(adm.log.String(), "\n") {
		audited = audited || (strings.Contains(line, `"msg":"admin change"`) && strings.Contains(line, `"entity_id":"`+u.ID+`"`) &&
			strings.Contains(line, `"token_id":"`+created.ID+`"`) && strings.Contains(line, `"method":"POST"`))
	}
	if !audited {
		t.Errorf("no admin audit line for the creation of %s with token %s:\n%s", u.ID, created.ID, adm.log.String())
	}

	// The admin process goes away: just-in-time fails with its message, the rest works.
	if err := adm.stop(t); err != nil {
		t.Fatalf("stop admin: %v", err)
	}
	_, pg = f.submitLogin(t, "latecomer", legacyPassword)
	wantFormError(t, "just-in-time with the admin process down", pg, http.StatusServiceUnavailable, jitSetupFailed)
	for _, existing := range []struct{ login, pw string }{{"alice", "correct horse battery staple"}, {"newbie", legacyPassword}} {
		req, pg = f.submitLogin(t, existing.login, existing.pw)
		f.redeem(t, req, pg)
	}
	log := strings.ToLower(login.log.String())
	if !strings.Contains(log, "user import: the admin api is unavailable") {
		t.Error("the login log does not say why the sign-in failed")
	}
	for _, s := range []string{legacyPassword, "newbie", "latecomer", strings.ToLower(created.Token)} {
		if strings.Contains(log, s) {
			t.Errorf("the login log holds %q", s)
		}
	}
}
