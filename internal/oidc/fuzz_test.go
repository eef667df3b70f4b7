package oidc

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
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

// FuzzRedirectMatch: a redirect URI is allowed exactly when it is byte-for-byte one of
// the registered URIs; no normalisation ever widens the match.
func FuzzRedirectMatch(f *testing.F) {
	f.Add("https://app.example/cb", "https://app.example/cb")
	f.Add("https://app.example/cb", "https://app.example/cb/")
	f.Add("https://app.example/cb", "https://APP.example/cb")
	f.Add("https://app.example/cb", "https://app.example/cb?x=1")
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:1234/cb")
	f.Add("https://app.example/cb", "https://app.example@evil.example/cb")
	f.Add("https://app.example/cb", "https://app.example/%63b")
	f.Fuzz(func(t *testing.T, registered, candidate string) {
		got := redirectAllowed([]string{registered, "https://other.example/x"}, candidate)
		want := candidate != "" && (candidate == registered || candidate == "https://other.example/x")
		if got != want {
			t.Fatalf("redirectAllowed(%q, %q) = %v", registered, candidate, got)
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
