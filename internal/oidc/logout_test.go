package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// signedIn signs user in to client "web" at acme in b and returns the ID token.
func signedIn(t *testing.T, w *world, b *browser, user string) string {
	t.Helper()
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	pg := b.get(r.conf.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier)))
	if isLoginForm(pg) {
		pg = b.submit(pg, url.Values{"login": {user}, "password": {testPassword}})
	}
	status, tok := redeem(t, w, "acme", "web", r.code(t, pg), verifier)
	if status != http.StatusOK || str(tok, "id_token") == "" {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	return str(tok, "id_token")
}

// hasSession reports whether b's SSO session at acme is alive (prompt=none succeeds).
func hasSession(t *testing.T, w *world, b *browser) bool {
	t.Helper()
	return callbackParams(t, b.get(authorizeURL(w, "acme", "web", url.Values{"prompt": {"none"}}))).Get("code") != ""
}

func isLogoutConfirmation(w *world, pg page) bool {
	return pg.status == http.StatusOK && strings.Contains(pg.body, `action="`+w.issuer("acme")+`/end_session/confirm"`)
}

const bye = "http://127.0.0.1/bye"

// TestLogoutNeedsAMatchingHintOrConfirmation: RP-initiated logout (RP-Initiated Logout
// 1.0 §2–§3) ends the session at once only for an id_token_hint of the session's user
// and session; anything else asks the user, whose same-origin confirmation ends it.
func TestLogoutNeedsAMatchingHintOrConfirmation(t *testing.T) {
	w := newWorld(t)
	end := w.issuer("acme") + "/end_session"
	b := newBrowser(t)
	signedIn(t, w, b, "alice")
	bobsHint := signedIn(t, w, newBrowser(t), "bob")
	otherSession := newBrowser(t)
	alicesOtherHint := signedIn(t, w, otherSession, "alice") // same user, another session

	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"no hint (a cross-site img)", url.Values{}},
		{"no hint, registered target", url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {bye}}},
		{"another user's hint", url.Values{"id_token_hint": {bobsHint}, "post_logout_redirect_uri": {bye}}},
		{"the same user's hint from another session", url.Values{"id_token_hint": {alicesOtherHint}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := b.get(end + "?" + tc.q.Encode())
			if !isLogoutConfirmation(w, pg) || pg.header.Get("Location") != "" {
				t.Fatalf("want the confirmation page, got %d %q: %.300s", pg.status, pg.header.Get("Location"), pg.body)
			}
			if strings.Contains(pg.body, "id_token_hint") {
				t.Error("the confirmation form carries the hint")
			}
			if !hasSession(t, w, b) {
				t.Fatal("the session ended without confirmation")
			}
		})
	}

	confirm := b.get(end + "?" + url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {bye}, "state": {"s2"}}.Encode())
	t.Run("cross-site confirmation", func(t *testing.T) {
		form := url.Values{}
		for _, m := range hiddenPattern.FindAllStringSubmatch(confirm.body, -1) {
			form.Set(m[1], htmlUnescape(m[2]))
		}
		req, _ := http.NewRequest(http.MethodPost, end+"/confirm", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := b.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site confirmation: %d", resp.StatusCode)
		}
		if !hasSession(t, w, b) {
			t.Fatal("a cross-site confirmation ended the session")
		}
	})
	t.Run("another session's confirmation", func(t *testing.T) {
		theirs := otherSession.get(end)
		if !isLogoutConfirmation(w, theirs) {
			t.Fatalf("no confirmation page: %d", theirs.status)
		}
		if pg := b.submit(theirs, nil); pg.status != http.StatusBadRequest {
			t.Errorf("a confirmation shown to another session: %d", pg.status)
		}
		if !hasSession(t, w, b) {
			t.Fatal("another session's confirmation ended this one")
		}
	})
	t.Run("confirmed", func(t *testing.T) {
		pg := b.submit(confirm, nil)
		if pg.status != http.StatusSeeOther || pg.header.Get("Location") != bye+"?state=s2" {
			t.Fatalf("confirmed logout: %d %q", pg.status, pg.header.Get("Location"))
		}
		if hasSession(t, w, b) {
			t.Error("session alive after a confirmed logout")
		}
		if !hasSession(t, w, otherSession) {
			t.Error("the logout ended another browser's session")
		}
	})

	t.Run("matching hint", func(t *testing.T) {
		hint := signedIn(t, w, b, "alice")
		pg := b.get(end + "?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye}, "state": {"s1"}}.Encode())
		if pg.status != http.StatusSeeOther || pg.header.Get("Location") != bye+"?state=s1" {
			t.Fatalf("logout with a matching hint: %d %q", pg.status, pg.header.Get("Location"))
		}
		if hasSession(t, w, b) {
			t.Error("session alive after logout")
		}
	})
}

// TestLogoutByCrossSitePost: the RP-facing POST form of end_session is cross-site by
// design (libraries.md C9), so it is not behind http.CrossOriginProtection; the same
// hint rules apply.
func TestLogoutByCrossSitePost(t *testing.T) {
	w := newWorld(t)
	end := w.issuer("acme") + "/end_session"
	post := func(hc *http.Client, form url.Values) page {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, end, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "http://127.0.0.1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return readPage(t, resp)
	}
	b := newBrowser(t)
	hint := signedIn(t, w, b, "alice")

	if pg := post(b.hc, url.Values{"post_logout_redirect_uri": {bye}, "client_id": {"web"}}); !isLogoutConfirmation(w, pg) {
		t.Fatalf("cross-site POST without a hint: %d %.300s", pg.status, pg.body)
	}
	if !hasSession(t, w, b) {
		t.Fatal("a POST without a hint ended the session")
	}
	// Without the session cookie (SameSite=Lax withholds it from a cross-site POST), the
	// request is repeated as a top-level GET, which carries it.
	nojar := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	pg := post(nojar, url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye}, "state": {"s3"}})
	loc, _ := url.Parse(pg.header.Get("Location"))
	if pg.status != http.StatusSeeOther || loc == nil || loc.Scheme+"://"+loc.Host+loc.Path != end ||
		loc.Query().Get("id_token_hint") != hint || loc.Query().Get("state") != "s3" {
		t.Fatalf("cross-site POST without the cookie: %d %q", pg.status, pg.header.Get("Location"))
	}
	if !hasSession(t, w, b) {
		t.Fatal("a POST without the cookie ended the session")
	}
	pg = post(b.hc, url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye}, "state": {"s4"}})
	if pg.status != http.StatusSeeOther || pg.header.Get("Location") != bye+"?state=s4" {
		t.Fatalf("cross-site POST with a matching hint: %d %q %.300s", pg.status, pg.header.Get("Location"), pg.body)
	}
	if hasSession(t, w, b) {
		t.Error("session alive after logout by POST")
	}
}
