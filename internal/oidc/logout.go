package oidc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/login/ui"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2–§3).
//
// The end_session endpoint takes GET and POST. Both are cross-site by design (the RP's
// page sends the browser here), so neither is CSRF-checked, and neither ends a session
// on its own say: the session ends at once only when a valid id_token_hint names the
// session's user (sub) and the session itself (sid). Otherwise (no hint, another user's
// or another session's hint) the user is asked, and the confirmation form posts to
// end_session/confirm, which is same-origin only (http.CrossOriginProtection) and
// carries a token bound to the session. A cross-site <img> or form therefore cannot sign
// anyone out (§2: "the OP SHOULD ask the End-User whether to log out"; §3 for the hint).
//
// The browser goes to post_logout_redirect_uri only when it exactly matches one
// registered for the client named by client_id or by the hint's audience (§3: never an
// open redirect); otherwise the signed-out page is shown.

// logoutRequest is a checked logout request.
type logoutRequest struct {
	clientID string
	target   string // a registered post_logout_redirect_uri, or ""
	state    string
	hint     *hintClaims
}

// hintClaims are the claims of a verified id_token_hint that logout uses.
type hintClaims struct {
	Iss string   `json:"iss"`
	Aud audience `json:"aud"`
	Sub string   `json:"sub"`
	SID string   `json:"sid"`
}

// Logout form fields.
const (
	fieldLogoutToken = "confirm"
	pathEndSessionOK = pathEndSession + "/confirm"
)

// parseLogout checks the parameters of a logout request or of its confirmation.
func (p *Provider) parseLogout(ctx context.Context, q url.Values) (logoutRequest, error) {
	for k, vs := range q {
		if len(vs) > 1 || len(vs[0]) > maxJWTLen {
			return logoutRequest{}, InvalidRequest("parameter %q repeated or long", trunc(k))
		}
	}
	lr := logoutRequest{clientID: q.Get("client_id"), target: q.Get("post_logout_redirect_uri"), state: q.Get("state")}
	if len(lr.state) > maxValueLen {
		return logoutRequest{}, InvalidRequest("state longer than %d bytes", maxValueLen)
	}
	if raw := q.Get("id_token_hint"); raw != "" {
		h, err := p.verifyHint(ctx, raw)
		if err != nil {
			return logoutRequest{}, err
		}
		if lr.clientID != "" && lr.clientID != h.Aud[0] {
			return logoutRequest{}, InvalidRequest("client_id does not match the id_token_hint")
		}
		lr.clientID, lr.hint = h.Aud[0], &h
	}
	if lr.target != "" {
		if lr.clientID == "" {
			return logoutRequest{}, InvalidRequest("post_logout_redirect_uri without a client")
		}
		app, err := p.application(ctx, lr.clientID)
		if err != nil {
			return logoutRequest{}, err
		}
		if !redirectAllowed(app.PostLogoutRedirectURIs, lr.target) {
			return logoutRequest{}, InvalidRequest("post_logout_redirect_uri %q not registered for %q", trunc(lr.target), app.ClientID)
		}
	}
	return lr, nil
}

// endSession is the end_session endpoint, GET (the RP's redirect) and POST (the RP's
// form).
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, &tc, InvalidRequest("form does not parse"))
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	lr, err := p.parseLogout(ctx, q)
	if err != nil {
		p.errorPage(w, r, &tc, err)
		return
	}
	sess, err := p.cfg.Sessions.Current(ctx, r, tc.T)
	switch {
	case errors.Is(err, session.ErrNoSession) && r.Method == http.MethodPost:
		// A cross-site POST does not carry the SameSite=Lax session cookie, so "no
		// session" may be wrong here. A top-level GET does carry it: ask again by GET.
		http.Redirect(w, r, p.endpoint(tc, pathEndSession)+"?"+q.Encode(), http.StatusSeeOther)
		return
	case errors.Is(err, session.ErrNoSession): // nobody to sign out
		p.signedOut(w, r, lr)
		return
	case err != nil:
		p.errorPage(w, r, &tc, wrapError(CodeTemporarilyUnavailable, err))
		return
	}
	if lr.hint == nil || lr.hint.Sub != sess.UserID.String() || lr.hint.SID != sessionID(sess) {
		p.confirmLogout(w, r, lr, sess)
		return
	}
	p.logout(w, r, lr)
}

// endSessionConfirm is the confirmation form's target (same-origin only, see Mount).
func (p *Provider) endSessionConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, &tc, InvalidRequest("form does not parse"))
		return
	}
	f := r.PostForm
	token := f.Get(fieldLogoutToken)
	f.Del(fieldLogoutToken)
	f.Del("id_token_hint") // the form never carries one; a confirmation needs none
	lr, err := p.parseLogout(ctx, f)
	if err != nil {
		p.errorPage(w, r, &tc, err)
		return
	}
	sess, err := p.cfg.Sessions.Current(ctx, r, tc.T)
	switch {
	case errors.Is(err, session.ErrNoSession): // signed out meanwhile
		p.signedOut(w, r, lr)
		return
	case err != nil:
		p.errorPage(w, r, &tc, wrapError(CodeTemporarilyUnavailable, err))
		return
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(logoutToken(sess))) != 1 {
		p.errorPage(w, r, &tc, InvalidRequest("logout confirmation not for this session"))
		return
	}
	p.logout(w, r, lr)
}

// logout ends the request's session and answers as signedOut does.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request, lr logoutRequest) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	if _, err := p.cfg.Sessions.End(ctx, w, r, tc.T); err != nil && !errors.Is(err, session.ErrNoSession) {
		p.errorPage(w, r, &tc, wrapError(CodeTemporarilyUnavailable, err))
		return
	}
	p.signedOut(w, r, lr)
}

// signedOut sends the browser to the checked post_logout_redirect_uri with state, or
// shows the signed-out page.
func (p *Provider) signedOut(w http.ResponseWriter, r *http.Request, lr logoutRequest) {
	tc := tenantFrom(r.Context())
	if lr.target == "" {
		p.ui.SignedOut(w, ui.SignedOutPage{Tenant: tc.T, StylesheetURL: p.endpoint(tc, pathStylesheet)})
		return
	}
	u, err := url.Parse(lr.target)
	if err != nil {
		p.errorPage(w, r, &tc, ServerError(err))
		return
	}
	if lr.state != "" {
		v := u.Query()
		v.Set("state", lr.state)
		u.RawQuery = v.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// logoutToken binds a confirmation form to the session it was shown to. The session ID
// is the cookie value and never leaves the server, so the token cannot be computed
// elsewhere; it differs from the "sid" claim, which RPs see.
func logoutToken(s session.Session) string { return digest("logout\x00" + s.ID) }

// confirmLogout asks the user whether to sign out; the form carries the checked client,
// target and state, never the hint.
func (p *Provider) confirmLogout(w http.ResponseWriter, r *http.Request, lr logoutRequest, sess session.Session) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	hidden := map[string]string{fieldLogoutToken: logoutToken(sess)}
	var clientName string
	if lr.clientID != "" {
		hidden["client_id"] = lr.clientID
		if app, err := p.application(ctx, lr.clientID); err == nil {
			clientName = app.ClientName
		}
	}
	if lr.target != "" {
		hidden["post_logout_redirect_uri"] = lr.target
	}
	if lr.state != "" {
		hidden["state"] = lr.state
	}
	data := logoutPage{TenantName: tc.T.DisplayName, ClientName: clientName, Action: p.endpoint(tc, pathEndSessionOK),
		Hidden: hidden, Stylesheet: p.endpoint(tc, pathStylesheet)}
	if data.TenantName == "" {
		data.TenantName = tc.T.Slug
	}
	var buf bytes.Buffer
	if err := logoutTemplate.Execute(&buf, data); err != nil {
		p.errorPage(w, r, &tc, ServerError(err))
		return
	}
	formAction := "'self'"
	if src := formActionSource(lr.target); src != "'none'" {
		formAction += " " + src // Chrome and Safari apply form-action to the redirect after the POST
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action "+formAction+
		"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// logoutPage is the logout confirmation. internal/login/ui has no such page, so it is
// rendered here, with the tenant's stylesheet.
type logoutPage struct {
	TenantName, ClientName, Action, Stylesheet string
	Hidden                                     map[string]string
}

var logoutTemplate = template.Must(template.New("logout").Option("missingkey=error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>Sign out? – {{.TenantName}}</title>
<link rel="stylesheet" href="{{.Stylesheet}}">
</head>
<body>
<main>
<p class="tenant">{{.TenantName}}</p>
<h1>Sign out?</h1>
<p>{{if .ClientName}}{{.ClientName}} asks to sign you out of {{.TenantName}}.{{else}}Do you want to sign out of {{.TenantName}}?{{end}}</p>
<form method="post" action="{{.Action}}">
{{range $name, $value := .Hidden}}<input type="hidden" name="{{$name}}" value="{{$value}}">
{{end}}<button type="submit">Sign out</button>
</form>
</main>
</body>
</html>
`))

// verifyHint verifies an id_token_hint (signature by this tenant, typ JWT, issuer) and
// returns its claims, with a single audience. Expiry is not checked (§2: an expired ID
// token is a fine hint).
func (p *Provider) verifyHint(ctx context.Context, hint string) (hintClaims, error) {
	tc := tenantFrom(ctx)
	payload, err := p.keys.verifyJWT(ctx, tc.T.ID, hint, "JWT")
	if err != nil {
		return hintClaims{}, InvalidRequest("id_token_hint: %v", err)
	}
	var c hintClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != tc.Issuer || len(c.Aud) != 1 || c.Sub == "" {
		return hintClaims{}, InvalidRequest("id_token_hint claims")
	}
	return c, nil
}

// audience reads "aud" as a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = []string{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*a = slices.Clip(ss)
	return nil
}
