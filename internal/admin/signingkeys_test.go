package admin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/tenant"
)

const keysURL = "/admin/v1/tenants/acme/keys"

// testJWKS is a client JWKS with one public Ed25519 key.
func testJWKS(t testing.TB) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "k1", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkNoPrivate fails when a JWK of the response carries a private member.
func checkNoPrivate(t *testing.T, items []map[string]any) {
	t.Helper()
	for _, it := range items {
		jwk, ok := it["public_jwk"].(map[string]any)
		if !ok {
			t.Fatalf("item without a public_jwk object: %v", it)
		}
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := jwk[m]; ok {
				t.Errorf("public_jwk of %v has private member %q", it["kid"], m)
			}
		}
		if jwk["kid"] != it["kid"] || jwk["alg"] != it["alg"] {
			t.Errorf("public_jwk %v does not match item %v", jwk, it)
		}
	}
}

func TestSigningKeys(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	created := e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK).json()
	if created["key_generation"] != float64(0) {
		t.Errorf("new tenant key_generation = %v", created["key_generation"])
	}
	r := e.as("GET", keysURL, "").want(http.StatusOK)
	items := r.items()
	if len(items) != 2*len(keys.Algs) || r.json()["key_generation"] != float64(0) {
		t.Fatalf("a new tenant has %d keys: %s", len(items), r.Body.String())
	}
	checkNoPrivate(t, items)
	slots := map[string]bool{}
	for _, it := range items {
		slots[it["alg"].(string)+"/"+it["state"].(string)] = true
	}
	for _, alg := range keys.Algs {
		if !slots[string(alg)+"/current"] || !slots[string(alg)+"/next"] {
			t.Errorf("no current and next %s key: %v", alg, slots)
		}
	}

	// The stored keys open with the configured KEK, and nothing sealed reaches a response.
	tn, err := e.store.TenantBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.store.SigningKeys(t.Context(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if _, err := k.Signer(e.kek); err != nil {
			t.Errorf("key %s does not open with the KEK: %v", k.ID, err)
		}
	}

	rot := e.as("POST", keysURL+"/rotate", "").want(http.StatusOK)
	rotated := rot.items()
	if len(rotated) != 3*len(keys.Algs) || rot.json()["key_generation"] != float64(1) {
		t.Fatalf("after rotation: %d keys: %s", len(rotated), rot.Body.String())
	}
	checkNoPrivate(t, rotated)
	after := e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK).json()
	if after["key_generation"] != float64(1) || after["version"] != created["version"] {
		t.Errorf("tenant after rotation: generation %v version %v (was %v)", after["key_generation"], after["version"], created["version"])
	}
	e.do(req{Method: "POST", Path: keysURL + "/rotate", Token: e.root, Body: `{}`}).want(http.StatusOK)
	if g := e.as("GET", keysURL, "").want(http.StatusOK).json()["key_generation"]; g != float64(2) {
		t.Errorf("key_generation after two rotations = %v", g)
	}

	bodies := []string{rot.Body.String(), r.Body.String(), e.logs.String()}
	for _, k := range stored {
		for _, b := range bodies {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
				if strings.Contains(b, enc.EncodeToString(k.Sealed)[:24]) {
					t.Fatalf("sealed bytes of %s reached a response or the log", k.ID)
				}
			}
			if strings.Contains(b, base64.StdEncoding.EncodeToString(e.kek)) || strings.Contains(b, base64.RawURLEncoding.EncodeToString(e.kek)) {
				t.Fatal("the KEK reached a response or the log")
			}
		}
	}
}

func TestSigningKeysAccess(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	e.mkTenant("other")
	acme, other := "acme", "other"
	acmeTok, otherTok := e.token("acme", &acme, time.Time{}), e.token("other", &other, time.Time{})
	tests := []struct {
		name, method, path, token, body, contentType string
		status                                       int
		typ                                          string
	}{
		{"own scoped token lists", "GET", keysURL, acmeTok, "", "", 200, ""},
		{"own scoped token rotates", "POST", keysURL + "/rotate", acmeTok, "", "", 200, ""},
		{"other tenant's token cannot list", "GET", keysURL, otherTok, "", "", 403, "forbidden"},
		{"other tenant's token cannot rotate", "POST", keysURL + "/rotate", otherTok, "", "", 403, "forbidden"},
		{"scoped token on a missing tenant", "GET", "/admin/v1/tenants/nope/keys", acmeTok, "", "", 403, "forbidden"},
		{"no token", "GET", keysURL, "", "", "", 401, "unauthorized"},
		{"no token rotates", "POST", keysURL + "/rotate", "", "", "", 401, "unauthorized"},
		{"missing tenant", "POST", "/admin/v1/tenants/nope/keys/rotate", e.root, "", "", 404, "not-found"},
		{"unknown body member", "POST", keysURL + "/rotate", e.root, `{"alg":"RS256"}`, "", 400, "malformed-request"},
		{"body not JSON", "POST", keysURL + "/rotate", e.root, `rotate please`, "", 400, "malformed-request"},
		{"wrong media type", "POST", keysURL + "/rotate", e.root, `{}`, "text/plain", 415, "unsupported-media-type"},
		{"wrong method", "PUT", keysURL, e.root, "", "", 405, "method-not-allowed"},
		{"no such sub-resource", "GET", keysURL + "/current", e.root, "", "", 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.in(t).do(req{Method: tt.method, Path: tt.path, Token: tt.token, Body: tt.body, ContentType: tt.contentType})
			if tt.typ == "" {
				r.want(tt.status)
				return
			}
			r.problem(tt.status, tt.typ)
		})
	}
	// The scoped rotation touched acme only.
	if g := e.as("GET", "/admin/v1/tenants/other", "").want(http.StatusOK).json()["key_generation"]; g != float64(0) {
		t.Errorf("other tenant's key_generation = %v", g)
	}
	if g := e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK).json()["key_generation"]; g != float64(1) {
		t.Errorf("acme key_generation = %v, want 1", g)
	}
}

func TestNoKEK(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KEK = nil })
	e.as("POST", "/admin/v1/tenants", `{"slug":"acme","display_name":"Acme"}`).problem(http.StatusInternalServerError, "internal")
	e.as("GET", "/admin/v1/tenants/acme", "").problem(http.StatusNotFound, "not-found")
	if !strings.Contains(e.logs.String(), "no valid key-encryption key") {
		t.Errorf("the missing KEK was not logged")
	}
}

func TestEnsureSigningKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mkTenant("acme")
	withKeys, err := e.store.TenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.store.SigningKeys(ctx, withKeys.ID)
	if err != nil {
		t.Fatal(err)
	}
	var bare []tenant.Tenant
	for _, slug := range []string{"old1", "old2"} {
		tn, err := e.store.CreateTenant(ctx, tenant.Tenant{Slug: slug, DisplayName: slug, Status: tenant.StatusActive,
			Lockout: tenant.DefaultLockout})
		if err != nil {
			t.Fatal(err)
		}
		bare = append(bare, tn)
	}
	if err := EnsureSigningKeys(ctx, e.store, e.kek); err != nil {
		t.Fatalf("EnsureSigningKeys: %v", err)
	}
	for _, tn := range bare {
		ks, err := e.store.SigningKeys(ctx, tn.ID)
		if err != nil || !keys.IsComplete(ks) {
			t.Errorf("tenant %s after EnsureSigningKeys: %d keys (%v)", tn.Slug, len(ks), err)
		}
		if got, _ := e.store.Tenant(ctx, tn.ID); got.KeyGeneration != 0 {
			t.Errorf("tenant %s: key generation %d, want 0", tn.Slug, got.KeyGeneration)
		}
	}
	after, err := e.store.SigningKeys(ctx, withKeys.ID)
	if err != nil || !sameKids(before, after) {
		t.Errorf("EnsureSigningKeys changed a complete set (%v)", err)
	}
	// Idempotent.
	firstBare, _ := e.store.SigningKeys(ctx, bare[0].ID)
	if err := EnsureSigningKeys(ctx, e.store, e.kek); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.store.SigningKeys(ctx, bare[0].ID); !sameKids(firstBare, again) {
		t.Error("a second EnsureSigningKeys changed the keys")
	}

	late, err := e.store.CreateTenant(ctx, tenant.Tenant{Slug: "late", DisplayName: "late", Status: tenant.StatusActive,
		Lockout: tenant.DefaultLockout})
	if err != nil {
		t.Fatal(err)
	}
	wrong := make([]byte, keys.KEKSize)
	_, _ = rand.Read(wrong)
	tests := []struct {
		name string
		kek  []byte
		want error
	}{
		{"wrong KEK", wrong, ErrKEKMismatch},
		{"short KEK", e.kek[:16], keys.ErrKEK},
		{"no KEK", nil, keys.ErrKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := EnsureSigningKeys(ctx, e.store, tt.kek); !errors.Is(err, tt.want) {
				t.Fatalf("EnsureSigningKeys = %v, want %v", err, tt.want)
			}
			// Nothing was sealed with a bad KEK.
			if ks, err := e.store.SigningKeys(ctx, late.ID); err != nil || len(ks) != 0 {
				t.Errorf("tenant late got %d keys (%v)", len(ks), err)
			}
		})
	}
}

func sameKids(a, b []keys.Key) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]keys.State{}
	for _, k := range a {
		m[k.ID] = k.State
	}
	for _, k := range b {
		if m[k.ID] != k.State {
			return false
		}
	}
	return true
}
