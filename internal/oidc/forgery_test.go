package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/keys"
)

func userinfoStatus(t testing.TB, w *world, slug, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.issuer(slug)+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("401 without WWW-Authenticate invalid_token: %q", resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode
}

func TestEveryArtifactOfATenantIsRejectedAtAnother(t *testing.T) {
	w := newWorld(t)
	// Same client IDs exist at both tenants, so only the tenant binding can refuse.
	tok, _ := grantTokens(t, w, "acme", "web")
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	if status, out := redeem(t, w, "globex", "web", code, verifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("code at another tenant: %d %v", status, out)
	}
	if status, out := refreshWith(t, w, "globex", "web", str(tok, "refresh_token")); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("refresh token at another tenant: %d %v", status, out)
	}
	if s := userinfoStatus(t, w, "globex", str(tok, "access_token")); s != http.StatusUnauthorized {
		t.Errorf("access token at another tenant's userinfo: %d", s)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if in := introspectAs(t, w, "globex", "web", str(tok, k)); in["active"] != false {
			t.Errorf("%s introspected at another tenant: %v", k, in)
		}
	}
	pg := newBrowser(t).get(w.issuer("globex") + "/end_session?" + url.Values{"id_token_hint": {str(tok, "id_token")},
		"post_logout_redirect_uri": {"http://127.0.0.1/bye"}}.Encode())
	if pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
		t.Errorf("id_token_hint at another tenant: %d %q", pg.status, pg.header.Get("Location"))
	}
	// A client secret of one tenant does not authenticate the same client ID at another.
	if status, _ := postForm(t, w.issuer("globex")+"/token", url.Values{"grant_type": {"client_credentials"}}, "svc", w.secret("acme", "svc")); status != http.StatusUnauthorized {
		t.Errorf("client secret at another tenant: %d", status)
	}
	// A device code of one tenant.
	status, dev := postForm(t, w.issuer("acme")+"/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid"}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, dev)
	}
	status, out := postForm(t, w.issuer("globex")+"/token", url.Values{"grant_type": {client.GrantDeviceCode}, "device_code": {str(dev, "device_code")}, "client_id": {"tv"}}, "", "")
	if status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("device code at another tenant: %d %v", status, out)
	}
}

// forge signs claims with key under header fields.
func forge(t testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestForgedAccessTokensAreRejected(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok, _ := grantTokens(t, w, "acme", "web")
	good := str(tok, "access_token")
	parts := strings.Split(good, ".")
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range claims {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	tn := w.tenant("acme")
	cur, _ := keys.Find(w.keys[tn.ID], keys.RS256, keys.Current)
	priv, err := cur.Signer(w.kek)
	if err != nil {
		t.Fatal(err)
	}
	var pub jose.JSONWebKey
	_ = json.Unmarshal(cur.PublicJWK, &pub)
	pubJSON, _ := pub.MarshalJSON()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := func(v any) string { j, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(j) }

	for _, tc := range []struct{ name, token string }{
		{"alg none", b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": cur.ID}) + "." + parts[1] + "."},
		{"HS256 with the public key", forge(t, jose.HS256, pubJSON, cur.ID, "at+jwt", claims)},
		{"unknown kid", forge(t, jose.ES256, other, "nope", "at+jwt", claims)},
		{"right kid, other key", forge(t, jose.ES256, other, cur.ID, "at+jwt", claims)},
		{"expired", forge(t, jose.RS256, priv, cur.ID, "at+jwt", with("exp", time.Now().Add(-time.Hour).Unix()))},
		{"wrong audience", forge(t, jose.RS256, priv, cur.ID, "at+jwt", with("aud", []string{"evil"}))},
		{"wrong issuer", forge(t, jose.RS256, priv, cur.ID, "at+jwt", with("iss", w.issuer("globex")))},
		{"ID token as access token", str(tok, "id_token")},
		{"typ JWT", forge(t, jose.RS256, priv, cur.ID, "JWT", claims)},
		{"tampered payload", parts[0] + "." + b64(with("sub", "someone-else")) + "." + parts[2]},
		{"truncated", good[:len(good)-5]},
		{"garbage", "a.b.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := userinfoStatus(t, w, "acme", tc.token); s != http.StatusUnauthorized {
				t.Errorf("userinfo: %d", s)
			}
			if in := introspectAs(t, w, "acme", "web", tc.token); in["active"] != false {
				t.Errorf("introspection: %v", in)
			}
		})
	}
	// The control: the genuine token and one re-signed with the real key both work.
	if s := userinfoStatus(t, w, "acme", good); s != http.StatusOK {
		t.Errorf("genuine token: %d", s)
	}
	if s := userinfoStatus(t, w, "acme", forge(t, jose.RS256, priv, cur.ID, "at+jwt", claims)); s != http.StatusOK {
		t.Errorf("control re-signed token: %d", s)
	}
	_ = ctx
}

func TestPrivateKeyJWT(t *testing.T) {
	w := newWorld(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	tn := w.tenant("acme")
	w.addApp(tn, client.Application{ClientID: "jwt-svc", ClientName: "JWT", Type: client.Confidential,
		GrantTypes: []string{client.GrantClientCredentials}, TokenEndpointAuthMethod: client.AuthPrivateKeyJWT, JWKS: set})
	assertion := func(claims map[string]any) string {
		base := map[string]any{"iss": "jwt-svc", "sub": "jwt-svc", "aud": w.issuer("acme") + "/token",
			"exp": time.Now().Add(time.Minute).Unix(), "jti": newID()}
		for k, v := range claims {
			base[k] = v
		}
		return forge(t, jose.ES256, key, "k1", "JWT", base)
	}
	grant := func(a string) (int, map[string]any) {
		return postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}, "", "")
	}
	a := assertion(nil)
	if status, out := grant(a); status != http.StatusOK || out["access_token"] == nil {
		t.Fatalf("private_key_jwt: %d %v", status, out)
	}
	if status, _ := grant(a); status != http.StatusUnauthorized {
		t.Errorf("replayed assertion: %d", status)
	}
	// aud: the issuer or the token endpoint, as a string or an array of one.
	for _, aud := range []any{w.issuer("acme"), []string{w.issuer("acme")}, []string{w.issuer("acme") + "/token"}} {
		if status, out := grant(assertion(map[string]any{"aud": aud})); status != http.StatusOK {
			t.Errorf("aud %v: %d %v", aud, status, out)
		}
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, bad := range map[string]string{
		"wrong audience": assertion(map[string]any{"aud": w.issuer("globex")}),
		// Audience injection: an assertion also valid elsewhere is refused.
		"aud array with another server": assertion(map[string]any{"aud": []string{w.issuer("acme") + "/token", "https://evil.example/token"}}),
		"aud array with both of ours":   assertion(map[string]any{"aud": []string{w.issuer("acme"), w.issuer("acme") + "/token"}}),
		"aud not a string":              assertion(map[string]any{"aud": []any{1}}),
		"aud empty array":               assertion(map[string]any{"aud": []string{}}),
		"expired":                       assertion(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}),
		"far future":                    assertion(map[string]any{"exp": time.Now().Add(time.Hour).Unix()}),
		"iss differs":                   assertion(map[string]any{"iss": "web"}),
		"no jti":                        assertion(map[string]any{"jti": ""}),
		"other key": forge(t, jose.ES256, other, "k1", "JWT", map[string]any{"iss": "jwt-svc", "sub": "jwt-svc",
			"aud": w.issuer("acme"), "exp": time.Now().Add(time.Minute).Unix(), "jti": newID()}),
	} {
		if status, _ := grant(bad); status != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, status)
		}
	}
	// A secret is no way in for a private_key_jwt client.
	if status, _ := postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {"client_credentials"}}, "jwt-svc", "anything"); status != http.StatusUnauthorized {
		t.Errorf("secret for a private_key_jwt client: %d", status)
	}
}
