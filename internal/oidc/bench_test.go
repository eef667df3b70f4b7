package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/ninesid/nines/internal/password"
)

// serve runs one request through the world's mux, without the network.
func (w *world) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.srv.Config.Handler.ServeHTTP(rec, req)
	return rec
}

func (w *world) post(path string, form url.Values, clientID, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, w.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(clientID, secret)
	}
	return w.serve(req)
}

// BenchmarkClientCredentials measures client_credentials grants per second with RS256
// and ES256 signing, next to a hello-world handler on the same mux in the same run
// (the floor of the HTTP plumbing).
func BenchmarkClientCredentials(b *testing.B) {
	w := newWorld(b)
	mux := w.srv.Config.Handler.(*http.ServeMux)
	mux.HandleFunc("POST /hello", func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"hello":"world"}`))
	})
	form := url.Values{"grant_type": {"client_credentials"}}
	b.Run("hello-world", func(b *testing.B) {
		for b.Loop() {
			if rec := w.post("/hello", form, "svc", "x"); rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
		}
	})
	for _, tc := range []struct{ name, client string }{{"RS256", "svc"}, {"ES256", "svc-es"}} {
		b.Run(tc.name, func(b *testing.B) {
			secret := w.secret("acme", tc.client)
			for b.Loop() {
				if rec := w.post("/t/acme/token", form, tc.client, secret); rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// BenchmarkSignIn measures the full password sign-in (authorize, login form POST with
// argon2id at OWASP parameters, code redemption with PKCE) next to raw argon2id hashes at
// the same parameters: the flow's overhead is the difference.
func BenchmarkSignIn(b *testing.B) {
	p := password.OWASP
	b.Run("argon2id-raw", func(b *testing.B) {
		salt := make([]byte, p.SaltLen)
		for b.Loop() {
			argon2.IDKey([]byte(testPassword), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
		}
	})
	b.Run("flow", func(b *testing.B) {
		w := newWorldHashing(b, p)
		verifier := strings.Repeat("v", 43)
		authz := authorizeURL(w, "acme", "web", url.Values{"code_challenge": {digest(verifier)}})
		secret := w.secret("acme", "web")
		for b.Loop() {
			rec := w.serve(httptest.NewRequest(http.MethodGet, authz, nil))
			loc, _ := url.Parse(rec.Header().Get("Location"))
			id := loc.Query().Get("id")
			rec = w.post("/t/acme/login", url.Values{"id": {id}, "login": {"alice"}, "password": {testPassword}}, "", "")
			cb, _ := url.Parse(rec.Header().Get("Location"))
			code := cb.Query().Get("code")
			rec = w.post("/t/acme/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {callback}, "code_verifier": {verifier}}, "web", secret)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code, rec.Body.String())
			}
		}
	})
}

// grantFor returns a token response of the code flow for web at acme.
func benchTokens(b *testing.B, w *world) map[string]any {
	b.Helper()
	verifier := strings.Repeat("v", 43)
	authz := authorizeURL(w, "acme", "web", url.Values{"code_challenge": {digest(verifier)},
		"scope": {"openid profile email groups offline_access"}})
	rec := w.serve(httptest.NewRequest(http.MethodGet, authz, nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	rec = w.post("/t/acme/login", url.Values{"id": {loc.Query().Get("id")}, "login": {"alice"}, "password": {testPassword}}, "", "")
	cb, _ := url.Parse(rec.Header().Get("Location"))
	rec = w.post("/t/acme/token", url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {callback}, "code_verifier": {verifier}}, "web", w.secret("acme", "web"))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
		b.Fatal(rec.Code, rec.Body.String())
	}
	return out
}

// BenchmarkRefresh measures refresh-token rotations per second (each one spends the
// previous token with a compare-and-swap and mints an access, ID and refresh token).
func BenchmarkRefresh(b *testing.B) {
	w := newWorld(b)
	rt := str(benchTokens(b, w), "refresh_token")
	secret := w.secret("acme", "web")
	for b.Loop() {
		rec := w.post("/t/acme/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", secret)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
		rt = str(out, "refresh_token")
	}
}

// BenchmarkIntrospection measures RFC 7662 introspections of a JWT access token per second.
func BenchmarkIntrospection(b *testing.B) {
	w := newWorld(b)
	at := str(benchTokens(b, w), "access_token")
	secret := w.secret("acme", "web")
	for b.Loop() {
		if rec := w.post("/t/acme/introspect", url.Values{"token": {at}}, "web", secret); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkUserinfo measures userinfo requests per second (token verification, the
// revocation check, the user and group reads).
func BenchmarkUserinfo(b *testing.B) {
	w := newWorld(b)
	at := str(benchTokens(b, w), "access_token")
	for b.Loop() {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, w.srv.URL+"/t/acme/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		if rec := w.serve(req); rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
