package oidc

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/session"
)

// authorizeParams is a parsed authorization request (RFC 6749 §4.1.1, OIDC Core
// §3.1.2.1, RFC 7636 §4.3).
type authorizeParams struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	Scopes              []string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	ResponseMode        string
	Prompt              []string
	MaxAge              *int64
	LoginHint           string
}

// maxParamLen bounds every authorization parameter (the whole request stays well under
// typical URL limits).
const maxParamLen = 2048

// maxValueLen bounds the client-supplied strings nines stores (state and nonce in the
// authorization request, the nonce again in the code and refresh records), so one KV
// entry stays a few KiB at most. Longer is invalid_request.
const maxValueLen = 512

// maxLoginLen is the longest name the sign-in form accepts (an e-mail address, RFC 5321
// §4.5.3.1.3). A login_hint longer than that could never be used, so it is dropped (it
// is only a hint, OIDC Core §3.1.2.1), not refused.
const maxLoginLen = 254

var challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`) // base64url of SHA-256

// parseAuthorize reads the parameters of an authorization request. It fails on a
// repeated parameter (RFC 6749 §3.1), an over-long one, and the request objects nines
// does not support (OIDC Core §6). It checks form, not policy: the client's registration
// is applied later. It never panics on any input.
func parseAuthorize(q url.Values) (authorizeParams, error) {
	var a authorizeParams
	// The fields are read first (the first value of each), so that an error about the
	// rest can still go back to a registered redirect URI with the state.
	a.ClientID, a.RedirectURI, a.ResponseType = q.Get("client_id"), q.Get("redirect_uri"), q.Get("response_type")
	a.State, a.Nonce, a.LoginHint = q.Get("state"), q.Get("nonce"), q.Get("login_hint")
	a.CodeChallenge, a.CodeChallengeMethod = q.Get("code_challenge"), q.Get("code_challenge_method")
	a.ResponseMode = q.Get("response_mode")
	a.Scopes = uniqueScopes(strings.Fields(q.Get("scope")))
	a.Prompt = strings.Fields(q.Get("prompt"))
	for k, vs := range q {
		if len(vs) > 1 {
			return a, InvalidRequest("parameter %q repeated", trunc(k))
		}
		if len(vs) == 1 && len(vs[0]) > maxParamLen {
			return a, InvalidRequest("parameter %q too long", trunc(k))
		}
	}
	if len(a.LoginHint) > maxLoginLen {
		a.LoginHint = ""
	}
	if len(a.State) > maxValueLen || len(a.Nonce) > maxValueLen {
		return a, InvalidRequest("state or nonce longer than %d bytes", maxValueLen)
	}
	if q.Has("request") {
		return a, &Error{Code: CodeRequestNotSupported, cause: errors.New("request object")}
	}
	if q.Has("request_uri") {
		return a, &Error{Code: CodeRequestURINotSupported, cause: errors.New("request_uri")}
	}
	if ma := q.Get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			return a, InvalidRequest("max_age is not a non-negative integer")
		}
		a.MaxAge = &n
	}
	switch a.ResponseMode {
	case "", "query", "form_post":
	default:
		return a, InvalidRequest("response_mode %q not supported", trunc(a.ResponseMode))
	}
	// prompt=consent: nines has no consent screen. Clients are registered by the
	// tenant's administrator, and that registration is the consent (first-party
	// clients); so consent is "otherwise obtained" and the request proceeds like one
	// without prompt (OIDC Core §3.1.2.1, §11 for offline_access). It is accepted
	// because §11 tells clients to send it with offline_access, but it is not advertised
	// in prompt_values_supported, since no prompt is ever shown.
	for _, pr := range a.Prompt {
		switch pr {
		case "none", "login", "consent", "select_account":
		default:
			return a, InvalidRequest("prompt %q unknown", trunc(pr))
		}
	}
	// OIDC Core §3.1.2.1: none with any other value is an error. That includes
	// prompt="none consent", which could only ever end in consent_required.
	if slices.Contains(a.Prompt, "none") && len(a.Prompt) > 1 {
		return a, InvalidRequest("prompt=none with other values")
	}
	if a.CodeChallenge != "" || a.CodeChallengeMethod != "" {
		// RFC 7636 §4.3 allows "plain"; nines refuses it (RFC 9700 §2.1.1: S256 only).
		if a.CodeChallengeMethod != "S256" {
			return a, InvalidRequest("code_challenge_method must be S256")
		}
		if !challengePattern.MatchString(a.CodeChallenge) {
			return a, InvalidRequest("code_challenge malformed")
		}
	}
	return a, nil
}

// uniqueScopes drops repeated scope values (keeping the first of each), so a request
// cannot inflate a stored entry by repeating a scope.
func uniqueScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// redirectAllowed is the redirect-URI check (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3): exact
// string comparison with one registered URI, nothing normalised, no pattern.
func redirectAllowed(registered []string, uri string) bool {
	return uri != "" && slices.Contains(registered, uri)
}

// authorize is the authorization endpoint. Until the client and its redirect URI are
// known to be registered, every error is the error page, never a redirect (RFC 6749
// §4.1.2.1): an unregistered redirect_uri is not an open redirector. After that, errors
// go back to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, &tc, InvalidRequest("form does not parse"))
		return
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		params = r.PostForm
	}
	a, perr := parseAuthorize(params)
	if len(params["client_id"]) > 1 || len(params["redirect_uri"]) > 1 || len(params["response_mode"]) > 1 ||
		len(a.RedirectURI) > maxParamLen {
		p.errorPage(w, r, &tc, InvalidRequest("client_id, redirect_uri or response_mode repeated or long"))
		return
	}
	if len(params["state"]) > 1 || len(a.State) > maxValueLen {
		a.State = "" // never echo a state that failed the checks
	}
	app, err := p.application(ctx, a.ClientID)
	if err != nil {
		p.errorPage(w, r, &tc, err)
		return
	}
	if !redirectAllowed(app.RedirectURIs, a.RedirectURI) {
		p.errorPage(w, r, &tc, InvalidRequest("redirect_uri %q is not registered for client %q", trunc(a.RedirectURI), app.ClientID))
		return
	}
	back := redirectTarget{uri: a.RedirectURI, state: a.State, mode: a.ResponseMode, issuer: tc.Issuer}
	if a.ResponseMode != "query" && a.ResponseMode != "form_post" {
		back.mode = "query"
	}
	if perr != nil {
		p.redirectError(w, r, back, perr)
		return
	}
	if err := checkClientPolicy(app, a); err != nil {
		p.redirectError(w, r, back, err)
		return
	}
	req := authRequest{
		ClientID: app.ClientID, RedirectURI: a.RedirectURI, Scopes: a.Scopes, State: a.State, Nonce: a.Nonce,
		Challenge: a.CodeChallenge, ResponseMode: back.mode, LoginHint: a.LoginHint, MaxAge: a.MaxAge,
		PromptLogin: slices.Contains(a.Prompt, "login") || slices.Contains(a.Prompt, "select_account"),
		ExpiresAt:   p.now().Add(p.cfg.AuthRequestLifetime),
	}
	if req.PromptLogin {
		req.NotBefore = p.now()
	}
	// SSO: a live session that satisfies prompt and max_age signs the user in at once.
	sess, serr := p.cfg.Sessions.Current(ctx, r, tc.T)
	if serr != nil && !errors.Is(serr, session.ErrNoSession) {
		p.logError(ctx, wrapError(CodeTemporarilyUnavailable, serr))
	}
	if serr == nil && p.sessionSatisfies(tc.T.ID, sess, req) {
		if _, err := p.loadUser(ctx, sess.UserID); err == nil {
			p.finish(w, r, req, sess)
			return
		}
	}
	if slices.Contains(a.Prompt, "none") {
		p.redirectError(w, r, back, LoginRequired("prompt=none without a usable session"))
		return
	}
	id := p.mintSecret()
	if _, err := p.cfg.Buckets.AuthRequests.Create(ctx, kvKey(tc.T.ID, kindAuthRequest, digest(id)), encode(req)); err != nil {
		p.redirectError(w, r, back, kvErr(err))
		return
	}
	http.Redirect(w, r, p.endpoint(tc, pathLogin)+"?id="+url.QueryEscape(id), http.StatusFound)
}

// checkClientPolicy applies the client's registration to a parsed request.
func checkClientPolicy(app client.Application, a authorizeParams) error {
	switch {
	case a.ResponseType != "code":
		return UnsupportedResponseType("response_type %q", trunc(a.ResponseType))
	case !slices.Contains(app.ResponseTypes, "code") || !slices.Contains(app.GrantTypes, client.GrantAuthorizationCode):
		return UnauthorizedClient("client %q may not use the code flow", app.ClientID)
	case app.Type == client.Public && a.CodeChallenge == "":
		return InvalidRequest("a public client must use PKCE (RFC 9700 §2.1.1)")
	}
	for _, s := range a.Scopes {
		if !slices.Contains(userScopes, s) {
			return InvalidScope("scope %q unknown", trunc(s))
		}
	}
	if !slices.Contains(a.Scopes, ScopeOpenID) {
		return InvalidScope("openid scope missing")
	}
	return nil
}

// sessionSatisfies reports whether sess may sign req in without a prompt: same tenant,
// not expired, and fresh enough for max_age (OIDC Core §3.1.2.1) and prompt=login.
func (p *Provider) sessionSatisfies(tid uuid.UUID, sess session.Session, req authRequest) bool {
	now := p.now()
	if sess.TenantID != tid || sess.UserID == uuid.Nil {
		return false
	}
	if !sess.ExpiresAt.IsZero() && !now.Before(sess.ExpiresAt) {
		return false
	}
	if req.PromptLogin && (req.NotBefore.IsZero() || sess.AuthTime.Before(req.NotBefore)) {
		return false
	}
	if req.MaxAge != nil && now.Sub(sess.AuthTime) > time.Duration(*req.MaxAge)*time.Second {
		return false
	}
	return true
}

// finish completes an authorization request for the session's user: it issues a code
// and sends the browser back to the client (RFC 6749 §4.1.2).
func (p *Provider) finish(w http.ResponseWriter, r *http.Request, req authRequest, sess session.Session) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	back := redirectTarget{uri: req.RedirectURI, state: req.State, mode: req.ResponseMode, issuer: tc.Issuer}
	code, err := p.issueCode(ctx, req, sess)
	if err != nil {
		p.redirectError(w, r, back, err)
		return
	}
	p.redirectBack(w, r, back, url.Values{"code": {code}})
}

func (p *Provider) issueCode(ctx context.Context, req authRequest, sess session.Session) (string, error) {
	tc := tenantFrom(ctx)
	code := p.mintSecret()
	rec := codeRecord{
		grant: grant{ClientID: req.ClientID, UserID: sess.UserID, Scopes: req.Scopes, AuthTime: sess.AuthTime,
			AMR: sess.AMR, SID: sessionID(sess), Nonce: req.Nonce, GrantID: newID()},
		RedirectURI: req.RedirectURI, Challenge: req.Challenge, ExpiresAt: p.now().Add(p.cfg.CodeLifetime),
	}
	if _, err := p.cfg.Buckets.Codes.Create(ctx, kvKey(tc.T.ID, kindCode, digest(code)), encode(rec)); err != nil {
		return "", kvErr(err)
	}
	return code, nil
}

// loadAuthRequest reads a pending authorization request by its ID.
func (p *Provider) loadAuthRequest(ctx context.Context, id string) (kv.Entry, authRequest, error) {
	tc := tenantFrom(ctx)
	var req authRequest
	if id == "" || len(id) > maxSecretLen {
		return kv.Entry{}, req, InvalidRequest("authorization request id missing")
	}
	// A request created a moment ago never reads as unknown on a replicated bucket (kv
	// confirms "not found" with the stream leader). Single use is decided by
	// loginSubmit's Consume, not here.
	e, err := p.cfg.Buckets.AuthRequests.Get(ctx, kvKey(tc.T.ID, kindAuthRequest, digest(id)))
	if err != nil {
		if kvNotFound(err) {
			return kv.Entry{}, req, InvalidRequest("authorization request unknown or expired")
		}
		return kv.Entry{}, req, kvErr(err)
	}
	if err := decodeEntry(e, &req); err != nil {
		return kv.Entry{}, req, err
	}
	if !p.now().Before(req.ExpiresAt) {
		return kv.Entry{}, req, InvalidRequest("authorization request expired")
	}
	return e, req, nil
}

// redirectTarget is where an authorization response goes.
type redirectTarget struct {
	uri, state, mode, issuer string
}

// redirectError sends an error back to the client (RFC 6749 §4.1.2.1) with the fixed
// description of its code.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, back redirectTarget, err error) {
	p.logError(r.Context(), err)
	e := classify(err)
	_, desc := Describe(e.Code)
	p.redirectBack(w, r, back, url.Values{"error": {e.Code}, "error_description": {desc}})
}

// redirectBack answers the client with params plus state and iss (RFC 9207 §2), in the
// query (RFC 6749 §4.1.2) or as an auto-submitted form (OAuth 2.0 Form Post Response
// Mode).
func (p *Provider) redirectBack(w http.ResponseWriter, r *http.Request, back redirectTarget, params url.Values) {
	if back.state != "" {
		params.Set("state", back.state)
	}
	params.Set("iss", back.issuer)
	if back.mode == "form_post" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; form-action "+formActionSource(back.uri))
		w.WriteHeader(http.StatusOK)
		_ = formPostTemplate.Execute(w, struct {
			Action string
			Params url.Values
		}{back.uri, params})
		return
	}
	u, err := url.Parse(back.uri)
	if err != nil { // registered URIs were validated; this is defence in depth
		p.errorPage(w, r, nil, ServerError(err))
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func formActionSource(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return "'none'"
	}
	return u.Scheme + "://" + u.Host
}

var formPostTemplate = template.Must(template.New("form_post").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Submit</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
`))
