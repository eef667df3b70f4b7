package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
)

// FuzzParseAuthorize: any query string parses or fails without a panic, and whatever
// parses obeys the rules the authorization endpoint relies on.
func FuzzParseAuthorize(f *testing.F) {
	for _, s := range []string{
		"client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&response_type=code&scope=openid&state=x",
		"code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=S256",
		"code_challenge=abc&code_challenge_method=plain",
		"prompt=none+login&max_age=-1",
		"max_age=99999999999999999999&response_mode=form_post",
		"state=a&state=b", "request=eyJ", "%zz", "scope=" + strings.Repeat("openid+", 500),
		"state=" + strings.Repeat("s", 513), "login_hint=" + strings.Repeat("h", 255),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		a, err := parseAuthorize(q)
		if err != nil {
			return
		}
		for _, vs := range q {
			if len(vs) > 1 || len(vs[0]) > maxParamLen {
				t.Fatalf("accepted a repeated or long parameter: %q", raw)
			}
		}
		if (a.CodeChallenge != "" || a.CodeChallengeMethod != "") && (a.CodeChallengeMethod != "S256" || !challengePattern.MatchString(a.CodeChallenge)) {
			t.Fatalf("accepted challenge %q method %q", a.CodeChallenge, a.CodeChallengeMethod)
		}
		if len(a.State) > maxValueLen || len(a.Nonce) > maxValueLen || len(a.LoginHint) > maxLoginLen {
			t.Fatalf("accepted a state, nonce or login_hint over its bound: %q", raw)
		}
		for i, sc := range a.Scopes {
			if slices.Contains(a.Scopes[:i], sc) {
				t.Fatalf("scope %q kept twice", sc)
			}
		}
		if a.MaxAge != nil && *a.MaxAge < 0 {
			t.Fatalf("negative max_age")
		}
		if slices.Contains(a.Prompt, "none") && len(a.Prompt) != 1 {
			t.Fatalf("prompt=none with others: %v", a.Prompt)
		}
		if a.ResponseMode != "" && a.ResponseMode != "query" && a.ResponseMode != "form_post" {
			t.Fatalf("response_mode %q", a.ResponseMode)
		}
	})
}

// FuzzRedirectMatch drives the authorization endpoint itself: a client is registered
// with a fuzzed redirect URI (when the registration rules accept it) and a request
// presents a fuzzed redirect_uri. The endpoint may redirect (to the login page, or an
// error back to the client) only when the presented URI is byte-for-byte one of the
// registered ones; anything else is the error page, with no Location.
func FuzzRedirectMatch(f *testing.F) {
	f.Add("https://app.example/cb", "https://app.example/cb")
	f.Add("https://app.example/cb", "https://app.example/cb/")
	f.Add("https://app.example/cb", "https://APP.example/cb")
	f.Add("https://app.example/cb", "https://app.example/cb?x=1")
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:1234/cb")
	f.Add("https://app.example/cb", "https://app.example@evil.example/cb")
	f.Add("https://app.example/cb", "https://app.example/%63b")
	f.Add("https://app.example/cb", "https://other.example/x")
	f.Add("com.example.app:/cb", "com.example.app:/cb#frag")
	f.Add("https://app.example/cb", "")
	w := newWorld(f)
	tn := w.tenant("acme")
	h := w.srv.Config.Handler
	const other = "https://other.example/x"
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, registered, candidate string) {
		app := client.Application{ClientID: fmt.Sprintf("fuzz-%d", n.Add(1)), ClientName: "Fuzz", Type: client.Public,
			RedirectURIs: []string{registered, other}, GrantTypes: []string{client.GrantAuthorizationCode}}
		app.ApplyDefaults()
		if len(app.Validate()) > 0 {
			app.RedirectURIs = []string{other} // registered is not registrable: only other is
		}
		w.addApp(tn, app)
		q := url.Values{"client_id": {app.ClientID}, "redirect_uri": {candidate}, "response_type": {"code"},
			"scope": {"openid"}, "code_challenge": {digest(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/t/acme/authorize?"+q.Encode(), nil))
		loc := rec.Header().Get("Location")
		allowed := candidate != "" && slices.Contains(app.RedirectURIs, candidate)
		switch {
		case !allowed && (loc != "" || rec.Code < 400):
			t.Fatalf("unregistered redirect_uri %q (registered %q): status %d Location %q", candidate, app.RedirectURIs, rec.Code, loc)
		case allowed && len(candidate) <= maxParamLen && loc == "":
			t.Fatalf("registered redirect_uri %q refused: status %d", candidate, rec.Code)
		}
	})
}

// FuzzVerifyAccessToken: the JWT verifier never panics and never accepts anything it
// did not sign (the fuzzer cannot forge a signature; a seed of a genuine token mutated
// must fail unless unchanged).
func FuzzVerifyAccessToken(f *testing.F) {
	w := newWorld(f)
	tn := w.tenant("acme")
	ctx := context.WithValue(context.Background(), tenantKey{}, tenantCtx{T: tn, Issuer: w.issuer("acme")})
	resp, err := w.p.issue(ctx, w.apps[tn.ID.String()+"/svc"], grant{ClientID: "svc", GrantID: newID()}, false, timeZero)
	if err != nil {
		f.Fatal(err)
	}
	genuine := resp.AccessToken
	f.Add(genuine)
	f.Add(genuine[:len(genuine)-3] + "AAA")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add(strings.Repeat("A", 9000))
	f.Add(uuid.NewString())
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := w.p.verifyAccessToken(ctx, raw)
		if err == nil && raw != genuine {
			// Base64url has malleable trailing bits: only accept what decodes to the
			// same signed content.
			if v.JTI == "" || !sameSegments(raw, genuine) {
				t.Fatalf("accepted a token that is not the genuine one: %q", raw)
			}
		}
	})
}

// sameSegments reports whether two compact JWS decode to the same three segments.
func sameSegments(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		da, err1 := decodeSeg(pa[i])
		db, err2 := decodeSeg(pb[i])
		if err1 != nil || err2 != nil || da != db {
			return false
		}
	}
	return true
}
