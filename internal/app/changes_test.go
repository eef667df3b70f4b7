package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/changes"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/store/pgtest"
)

// jwsHeader returns the alg and kid of a compact JWS.
func jwsHeader(t *testing.T, jws string) (alg, kid string) {
	t.Helper()
	h, _, _ := strings.Cut(jws, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("JWS header: %v", err)
	}
	var hdr struct{ Alg, Kid string }
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Alg, hdr.Kid
}

// rotatedKeys is the admin API's answer to a rotation.
type rotatedKeys struct {
	Items []struct {
		KID   string `json:"kid"`
		Alg   string `json:"alg"`
		State string `json:"state"`
	} `json:"items"`
	KeyGeneration int64 `json:"key_generation"`
}

func (r rotatedKeys) kid(alg, state string) string {
	for _, it := range r.Items {
		if it.Alg == alg && it.State == state {
			return it.KID
		}
	}
	return ""
}

// TestKeyRotationReachesTheLoginTierAtOnce: on the all role, a rotation through the
// admin API is signed with by the login surface, and published in its JWKS, long before
// the key cache's one-minute TTL: the change notification made the cache read again.
func TestKeyRotationReachesTheLoginTierAtOnce(t *testing.T) {
	r := startSignin(t)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser stops at the redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, r.base, rp.URL)
	checkRotationSeen(t, r.base, r.base+"/t/acme", rp.URL, secret)
}

// TestKeyRotationReachesTheLoginRole: the same across the split roles: the admin role
// (PostgreSQL primary, NINES_NATS_URL) rotates, the login role (reading a streaming
// replica) hears of it on NATS and reads the replica until it shows the rotation.
func TestKeyRotationReachesTheLoginRole(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 1})
	db := cluster.NewDatabase(t)
	broker := startExternalNATS(t)
	adminCfg := testConfig(t, filepath.Join(t.TempDir(), "admin"))
	adminCfg.DatabaseURL, adminCfg.NATSURL, adminCfg.KEK = db.PrimaryURL, broker.url, testKEK
	adminCfg.BootstrapAdminToken, adminCfg.LogLevel = signinAdminToken, "info"
	if err := adminCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var migrateLog bytes.Buffer
	if err := Migrate(t.Context(), adminCfg, &migrateLog); err != nil {
		t.Fatalf("migrate: %v\n%s", err, migrateLog.String())
	}
	admin := startRole(t, "admin", Options{Config: adminCfg, Role: RoleAdmin})
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser stops at the redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, admin.base, rp.URL)
	if err := cluster.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}
	login := startRole(t, "login", Options{Config: loginConfig(t, db.ReplicaURLs, broker.url), Role: RoleLogin})
	pollLoginReadyz(t, login.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })
	checkRotationSeen(t, admin.base, login.base+"/t/acme", rp.URL, secret)
}

// checkRotationSeen signs in to tenant acme at issuer (client web of signinYAML, whose
// callback is rpURL), so that the login tier caches the tenant's keys, rotates them
// through the admin API at adminBase, then waits until a new ID token is signed by the
// new current key and the JWKS publishes the new next key. The wait is a bounded poll
// (15 s at most, a quarter of the key cache's TTL, so the TTL cannot be what ends it),
// not a timed assertion.
func checkRotationSeen(t *testing.T, adminBase, issuer, rpURL, secret string) {
	t.Helper()
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	f := &signinFlow{ctx: ctx, issuer: issuer, rp: rpURL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rpURL + "/callback", Scopes: []string{gooidc.ScopeOpenID}}}
	b := newSigninBrowser(t, rpURL)
	// Sign in once; every later ID token comes from the SSO session, straight back.
	req := f.newRequest()
	pg := b.submit(b.get(f.conf.AuthCodeURL(req.state, req.opts()...)),
		map[string][]string{"login": {"alice"}, "password": {"correct horse battery staple"}})
	tok, _ := f.redeem(t, req, pg)
	alg, oldKid := jwsHeader(t, tok.Extra("id_token").(string))
	idToken := func() string {
		t.Helper()
		req := f.newRequest()
		tok, _ := f.redeem(t, req, b.get(f.conf.AuthCodeURL(req.state, req.opts()...)))
		return tok.Extra("id_token").(string)
	}
	jwks := func() map[string]bool {
		t.Helper()
		code, body := get(t, issuer+"/keys", "")
		var set struct{ Keys []struct{ Kid string } }
		if err := json.Unmarshal(body, &set); err != nil || code != http.StatusOK {
			t.Fatalf("JWKS: %d %s", code, body)
		}
		kids := map[string]bool{}
		for _, k := range set.Keys {
			kids[k.Kid] = true
		}
		return kids
	}
	jwks() // the cache holds the keys from before the rotation

	code, _, body := send(t, "POST", adminBase+"/admin/v1/tenants/acme/keys/rotate", signinAdminToken, "")
	var rot rotatedKeys
	if err := json.Unmarshal(body, &rot); err != nil || code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, body)
	}
	cur, next := rot.kid(alg, "current"), rot.kid(alg, "next")
	if cur == "" || next == "" || cur == oldKid || rot.KeyGeneration != 1 {
		t.Fatalf("rotation answered %s: want a new current and next %s key, generation 1", body, alg)
	}
	rotatedAt := time.Now()

	const polls, wait = 60, 250 * time.Millisecond
	var kid string
	var kids map[string]bool
	for i := 0; i < polls && time.Since(rotatedAt) < 15*time.Second; i++ {
		_, kid = jwsHeader(t, idToken())
		if kids = jwks(); kid == cur && kids[next] {
			break
		}
		time.Sleep(wait)
	}
	if kid != cur {
		t.Errorf("ID tokens are still signed by %s, want the new current key %s, 15s after the rotation (cache TTL 1m)", kid, cur)
	}
	if !kids[next] || !kids[cur] || !kids[oldKid] {
		t.Errorf("JWKS %v: want the new next %s, current %s and previous %s", kids, next, cur, oldKid)
	}
}

// TestServeAdminWithNATS: with NINES_NATS_URL the admin role connects to NATS, opens
// none of the login tier's buckets, shares the read-only switch with the other admin
// processes, and announces key rotations on the change subject.
func TestServeAdminWithNATS(t *testing.T) {
	srv, err := natsd.Start(t.Context(), natsd.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	got := make(chan changes.Change, 8)
	sub, err := changes.Subscribe(changes.SubscriberConfig{Conn: nc, Logger: discardLogger(),
		Handlers: map[changes.Kind]changes.Handler{changes.Keys: func(c changes.Change) { got <- c }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	buckets := captureBuckets(t)
	startAdmin := func() *running {
		cfg := testConfig(t, t.TempDir())
		cfg.NATSURL, cfg.BootstrapAdminToken = srv.ClientURL(), config.Secret(signinAdminToken)
		return start(t, Options{Config: cfg, Role: RoleAdmin})
	}
	a, b := startAdmin(), startAdmin()
	code, rd := readyzBody(t, a.base)
	if code != http.StatusOK || rd.NATS == nil || !rd.NATS.Connected || rd.NATS.Server != srv.ClientURL() {
		t.Fatalf("readyz of admin with NATS = %d nats %+v; want connected to %s", code, rd.NATS, srv.ClientURL())
	}
	if bk := buckets(); bk.Sessions != nil || bk.Codes != nil {
		t.Fatal("the admin role opened the login tier's buckets")
	}

	// A rotation is announced with the tenant's new generation.
	if code, _, body := send(t, "POST", a.base+"/admin/v1/tenants", signinAdminToken,
		`{"slug":"acme","display_name":"Acme"}`); code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", code, body)
	}
	code, _, body := send(t, "GET", a.base+"/admin/v1/tenants/acme", signinAdminToken, "")
	var tn struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &tn); err != nil || code != http.StatusOK {
		t.Fatalf("tenant: %d %s", code, body)
	}
	if code, _, body := send(t, "POST", a.base+"/admin/v1/tenants/acme/keys/rotate", signinAdminToken, ""); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, body)
	}
	select {
	case c := <-got:
		if want := (changes.Change{Tenant: uuid.MustParse(tn.ID), Kind: changes.Keys, Version: 1}); c != want {
			t.Errorf("announced %+v, want %+v", c, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced within 10s of the rotation")
	}

	// The read-only switch, set on one admin process, holds on the other.
	code, _, body = send(t, "PUT", a.base+"/admin/v1/readonly", signinAdminToken, `{"enabled":true,"reason":"drill"}`)
	var st struct {
		ReadOnly bool `json:"read_only"`
		Shared   bool `json:"shared"`
	}
	if err := json.Unmarshal(body, &st); err != nil || code != http.StatusOK || !st.ReadOnly || !st.Shared {
		t.Fatalf("PUT readonly on the first admin = %d %s; want read_only and shared", code, body)
	}
	const polls = 100
	for i := range polls {
		code, _, body = send(t, "GET", b.base+"/admin/v1/readonly", signinAdminToken, "")
		if err := json.Unmarshal(body, &st); err == nil && st.ReadOnly {
			break
		}
		if i == polls-1 {
			t.Fatalf("the second admin never saw the switch: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, hdr, body := send(t, "POST", b.base+"/admin/v1/tenants", signinAdminToken,
		`{"slug":"globex","display_name":"Globex"}`); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("write on the second admin in shared read-only mode = %d %s", code, body)
	}
}
