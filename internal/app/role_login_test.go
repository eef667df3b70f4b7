package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/store/pgtest"

	"github.com/ninesid/nines/internal/testenv"
)

// Bounded polling of the login role tests: at most loginPolls × loginPollEvery per wait.
// The assertions are on the state reached, never on how long it took.
const (
	loginPolls     = 200
	loginPollEvery = 50 * time.Millisecond
)

// externalNATS is a NATS server outside the nines process under test, as a deployment
// runs one: its own store directory, a TCP listener on loopback.
type externalNATS struct {
	t        *testing.T
	storeDir string
	srv      *natsd.Server // nil while stopped
	url      string
}

// startExternalNATS starts a server on 127.0.0.1:0 and shuts it down in t.Cleanup.
func startExternalNATS(t *testing.T) *externalNATS {
	t.Helper()
	n := &externalNATS{t: t, storeDir: t.TempDir()}
	n.start("127.0.0.1:0")
	n.url = n.srv.ClientURL()
	t.Cleanup(n.stop)
	return n
}

func (n *externalNATS) start(listen string) {
	n.t.Helper()
	srv, err := natsd.Start(n.t.Context(), natsd.Options{StoreDir: n.storeDir, Listen: listen, Logger: discardLogger()})
	if err != nil {
		n.t.Fatalf("start nats on %s: %v", listen, err)
	}
	n.srv = srv
}

// restart starts the server again on the same address and store.
func (n *externalNATS) restart() {
	n.t.Helper()
	n.start(strings.TrimPrefix(n.url, "nats://"))
}

func (n *externalNATS) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv = nil
	}
}

// startRole starts a nines process and prints its log, named, when the test fails.
func startRole(t *testing.T, name string, o Options) *running {
	t.Helper()
	r := start(t, o)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s server log:\n%s", name, r.log.String())
		}
	})
	return r
}

// loginConfig is the login role's configuration as `nines serve --role=login` validates
// it: replicas only, the external NATS, the deployment's KEK, its own data directory.
func loginConfig(t *testing.T, replicas []string, natsURL string) config.Config {
	t.Helper()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "login"))
	cfg.ReplicaURLs = replicas
	cfg.NATSURL = natsURL
	cfg.KEK = testKEK
	cfg.LogLevel = "info"
	cfg.ReplicaOnly = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("login config: %v", err)
	}
	return cfg
}

// pollLoginReadyz asks /readyz until done says yes, at most loginPolls times.
func pollLoginReadyz(t *testing.T, base string, done func(code int, rd readiness) bool) (int, readiness) {
	t.Helper()
	var (
		code int
		rd   readiness
	)
	for range loginPolls {
		if code, rd = readyzBody(t, base); done(code, rd) {
			return code, rd
		}
		time.Sleep(loginPollEvery)
	}
	t.Fatalf("readyz never reached the expected state; last: %d %+v nats %+v", code, rd, rd.NATS)
	return code, rd
}

// checkReplicasOnly fails unless /readyz answers 200 "ready" listing exactly the n
// replicas, every one healthy, and no primary.
func checkReplicasOnly(t *testing.T, when, base string, n int) {
	t.Helper()
	code, rd := readyzBody(t, base)
	ok := code == http.StatusOK && rd.Status == "ready" && rd.Role == RoleLogin && len(rd.Databases) == n
	for _, d := range rd.Databases {
		ok = ok && d.Role == "replica" && d.Healthy
	}
	if !ok {
		t.Fatalf("%s: readyz = %d %+v; want 200 ready with %d healthy replicas and no primary", when, code, rd, n)
	}
}

// TestLoginRoleSignsInWithThePrimaryDown is issue 4's acceptance test: with the primary
// stopped, a standard OIDC client that knows only the login process's issuer URL signs
// a user in through the form, redeems the code, reads userinfo and refreshes, against
// `nines serve --role=login` reading only the replicas; the sign-in's command waits on
// the broker for a worker.
func TestLoginRoleSignsInWithThePrimaryDown(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 2})
	db := cluster.NewDatabase(t)
	broker := startExternalNATS(t)

	// The admin tier on the primary, migrated by the deploy step, creates the tenant.
	adminCfg := testConfig(t, filepath.Join(t.TempDir(), "admin"))
	adminCfg.DatabaseURL = db.PrimaryURL
	adminCfg.KEK = testKEK
	adminCfg.BootstrapAdminToken = signinAdminToken
	adminCfg.LogLevel = "info"
	if err := adminCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var migrateLog bytes.Buffer
	if err := Migrate(t.Context(), adminCfg, &migrateLog); err != nil {
		t.Fatalf("migrate: %v\n%s", err, migrateLog.String())
	}
	adm := startRole(t, "admin", Options{Config: adminCfg, Role: RoleAdmin})
	var rpHits atomic.Int32
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rpHits.Add(1)
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, adm.base, rp.URL)
	if err := cluster.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}

	login := startRole(t, "login", Options{Config: loginConfig(t, db.ReplicaURLs, broker.url), Role: RoleLogin})
	pollLoginReadyz(t, login.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })
	checkReplicasOnly(t, "before the primary stops", login.base, 2)

	// The primary goes away (it comes back in cleanup, before the database is dropped).
	if err := cluster.StopPrimary(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.StartPrimary(ctx); err != nil {
			t.Errorf("restart the primary: %v", err)
		}
	})
	func() {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, db.PrimaryURL); err == nil {
			_ = conn.Close(ctx)
			t.Fatal("the primary still accepts connections after StopPrimary")
		}
	}()
	checkReplicasOnly(t, "primary down", login.base, 2)

	// Everything below knows only the login process's issuer URL and the client's
	// credentials.
	issuer := login.base + "/t/acme"
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery with the primary down: %v", err)
	}
	f := &signinFlow{ctx: ctx, issuer: issuer, rp: rp.URL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rp.URL + "/callback",
			Scopes:      []string{gooidc.ScopeOpenID, "profile", "email", gooidc.ScopeOfflineAccess}}}
	for _, ep := range []string{provider.Endpoint().AuthURL, provider.Endpoint().TokenURL, provider.UserInfoEndpoint()} {
		if !strings.HasPrefix(ep, issuer+"/") {
			t.Fatalf("discovery sends the client to %q, outside the login process's issuer %q", ep, issuer)
		}
	}

	b := newSigninBrowser(t, rp.URL)
	req := f.newRequest()
	pg := b.get(f.conf.AuthCodeURL(req.state, req.opts()...))
	if !pg.isLoginForm() {
		t.Fatalf("authorize with the primary down: want the login form, got %d: %.500s", pg.status, pg.body)
	}
	pg = b.submit(pg, url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}})
	tok, idt := f.redeem(t, req, pg)
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject == "" || claims.Email != "alice@example.com" {
		t.Errorf("ID token sub %q email %q", idt.Subject, claims.Email)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo with the primary down: %v", err)
	}
	if ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
		t.Errorf("userinfo sub %q email %q", ui.Subject, ui.Email)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	checkReplicasOnly(t, "after the sign-in", login.base, 2)

	tok2, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh with the primary down: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not return a new access token and a new refresh token")
	}
	if raw, _ := tok2.Extra("id_token").(string); raw != "" {
		if idt2, err := f.verifier.Verify(ctx, raw); err != nil || idt2.Subject != idt.Subject {
			t.Errorf("refreshed ID token: sub %v, %v", idt2, err)
		}
	}
	if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok2)); err != nil || ui.Subject != idt.Subject {
		t.Errorf("userinfo with the refreshed access token: %v", err)
	}
	checkReplicasOnly(t, "after the refresh", login.base, 2)
	if n := rpHits.Load(); n != 0 {
		t.Errorf("the relying party was called %d times", n)
	}

	// The sign-in's write went to the broker as a command, and waits there: no worker.
	c := signedInCommand(t, broker.url)
	p, err := c.Payload()
	if err != nil {
		t.Fatalf("command payload: %v", err)
	}
	si, ok := p.(command.SignedIn)
	if !ok || si.UserID.String() != idt.Subject || c.TenantID.String() == "" || si.At.IsZero() {
		t.Fatalf("queued command %+v payload %#v; want user.signed_in of %s", c, p, idt.Subject)
	}
}

// signedInCommand waits (bounded) until the commands stream on the server at natsURL
// holds exactly one user.signed_in and returns it, read without consuming it.
func signedInCommand(t *testing.T, natsURL string) command.Command {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // each call; the polls are bounded below
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamName(bus.DefaultPrefix))
	if err != nil {
		t.Fatalf("commands stream: %v", err)
	}
	subject := bus.DefaultPrefix + ".cmd." + command.TypeSignedIn
	var subjects map[string]uint64
	for range loginPolls {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.SubjectFilter(bus.DefaultPrefix)))
		if err != nil {
			t.Fatalf("stream info: %v", err)
		}
		if subjects = info.State.Subjects; subjects[subject] > 0 {
			break
		}
		time.Sleep(loginPollEvery)
	}
	if subjects[subject] != 1 {
		t.Fatalf("commands stream holds %v; want exactly one %s", subjects, subject)
	}
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatalf("read %s: %v", subject, err)
	}
	c, err := command.Decode(msg.Data)
	if err != nil {
		t.Fatalf("decode the queued command: %v", err)
	}
	if id := msg.Header.Get(jetstream.MsgIDHeader); id != c.ID {
		t.Errorf("Nats-Msg-Id %q, want the command's idempotency key %q", id, c.ID)
	}
	return c
}

// countingListener accepts TCP connections on loopback, counts them and closes them at
// once: a database that is never one.
type countingListener struct {
	ln       net.Listener
	accepted atomic.Int32
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return l
}

func (l *countingListener) url() string { return "postgres://nines@" + l.ln.Addr().String() + "/nines" }

// TestLoginRoleRefusesThePrimary: the login role's configuration may not name the
// primary (config.TestValidateReplicaOnly has the whole table), and Run refuses, before
// dialling anything, a configuration that was not validated for the login role or that
// carries a primary. (TestLoginRoleSignsInWithThePrimaryDown checks that a running login
// process lists only replicas.)
func TestLoginRoleRefusesThePrimary(t *testing.T) {
	primary, replica := newCountingListener(t), newCountingListener(t)
	broker := startExternalNATS(t)

	base := testConfig(t, filepath.Join(t.TempDir(), "login"))
	base.DatabaseURL = primary.url()
	base.ReplicaURLs = []string{replica.url()}
	base.NATSURL = broker.url
	base.KEK = testKEK

	// As `nines serve --role=login` validates it: refused, the primary named.
	lc := base
	lc.ReplicaOnly = true
	var ps config.Problems
	if err := lc.Validate(); !errors.As(err, &ps) || len(ps) != 1 || ps[0].Setting != "NINES_DATABASE_URL" {
		t.Fatalf("login config with a primary: %v; want exactly one NINES_DATABASE_URL problem", err)
	}

	tests := []struct {
		name   string
		modify func(c *config.Config)
	}{
		// Valid for the admin and all roles, handed to the login role.
		{name: "validated for another role", modify: func(c *config.Config) {
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "replica only but with a primary", modify: func(c *config.Config) {
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			c.ReplicaOnly = true
		}},
		{name: "validated for another role, replicas only", modify: func(c *config.Config) {
			c.DatabaseURL = ""
			c.ReplicaURLs = nil
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			c.ReplicaURLs = []string{replica.url()}
		}},
		{name: "replica only without replicas", modify: func(c *config.Config) {
			c.DatabaseURL = ""
			c.ReplicaURLs = nil
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			c.ReplicaOnly = true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.DataDir = filepath.Join(t.TempDir(), "login")
			tt.modify(&cfg)
			var log testenv.Buffer
			err := Run(t.Context(), Options{Config: cfg, Role: RoleLogin, Log: &log, Console: &log})
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("Run = %v; want a usage error\nlog:\n%s", err, log.String())
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Run created the data directory before refusing: %v", err)
			}
		})
	}
	if p, r := primary.accepted.Load(), replica.accepted.Load(); p != 0 || r != 0 {
		t.Errorf("refused configurations opened %d connections to the primary, %d to the replica", p, r)
	}
}

// TestLoginRoleDegradedWhileNATSIsDown: a login process whose NATS is down keeps its
// short-lived state in memory (the KV fallback) and its commands in the spool, so it
// stays ready for the load balancer — "degraded", with the fallback and the replicas in
// /readyz — and is ready again once the broker is back on the same address and store.
func TestLoginRoleDegradedWhileNATSIsDown(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 1})
	db := cluster.NewDatabase(t)
	broker := startExternalNATS(t)
	r := startRole(t, "login", Options{Config: loginConfig(t, db.ReplicaURLs, broker.url), Role: RoleLogin})
	pollLoginReadyz(t, r.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })
	checkReplicasOnly(t, "with the broker up", r.base, 1)

	broker.stop()
	// Past natsUnreadyAfter (5s) and the reconnect attempts: a wider bound than loginPolls.
	deadline := 4 * loginPolls
	var (
		code int
		rd   readiness
	)
	for i := 0; ; i++ {
		code, rd = readyzBody(t, r.base)
		if (rd.KVFallback != nil && rd.KVFallback.Active && rd.NATS != nil && !rd.NATS.Connected &&
			time.Since(rd.NATS.DownSince) > 2*natsUnreadyAfter) || i == deadline {
			break
		}
		time.Sleep(loginPollEvery)
	}
	if code != http.StatusOK || rd.Status != "degraded" || rd.NATS == nil || rd.NATS.Connected ||
		rd.KVFallback == nil || !rd.KVFallback.Active ||
		len(rd.Databases) != 1 || !rd.Databases[0].Healthy || rd.Databases[0].Role != "replica" {
		t.Fatalf("readyz with the broker down for long = %d %+v nats %+v fallback %+v; want 200 degraded, "+
			"the KV fallback active, the replica healthy", code, rd, rd.NATS, rd.KVFallback)
	}

	broker.restart()
	for i := 0; ; i++ {
		if code, rd = readyzBody(t, r.base); rd.Status == "ready" || i == deadline {
			break
		}
		time.Sleep(loginPollEvery)
	}
	if code != http.StatusOK || rd.NATS == nil || !rd.NATS.Connected || !rd.NATS.JetStream {
		t.Fatalf("readyz after the broker came back = %d %+v nats %+v; want 200 ready", code, rd, rd.NATS)
	}
	checkReplicasOnly(t, "after the broker came back", r.base, 1)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if log := r.log.String(); !strings.Contains(log, `"msg":"nats reconnected"`) {
		t.Errorf("log lacks the reconnection:\n%s", log)
	}
}
