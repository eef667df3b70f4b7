package oidc

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/login/ui"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/user"
)

// loginPage shows the sign-in form of a pending authorization request (?id=) or of a
// device approval (?user_code=).
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	q := r.URL.Query()
	hidden := map[string]string{}
	login, redirectURI := "", ""
	switch {
	case q.Get("id") != "":
		_, req, err := p.loadAuthRequest(ctx, q.Get("id"))
		if err != nil {
			p.errorPage(w, r, &tc, err)
			return
		}
		hidden["id"], login, redirectURI = q.Get("id"), req.LoginHint, req.RedirectURI
	case q.Get("user_code") != "":
		hidden["user_code"] = q.Get("user_code")
	default:
		p.errorPage(w, r, &tc, InvalidRequest("login without a request"))
		return
	}
	p.ui.Login(w, http.StatusOK, p.loginPageData(tc, hidden, login, "", redirectURI))
}

func (p *Provider) loginPageData(tc tenantCtx, hidden map[string]string, login, msg, redirectURI string) ui.LoginPage {
	return ui.LoginPage{Tenant: tc.T, Action: p.endpoint(tc, pathLogin), Hidden: hidden, Login: login, Error: msg,
		RedirectURI: redirectURI, StylesheetURL: p.endpoint(tc, pathStylesheet)}
}

// loginSubmit checks the credentials, starts the SSO session and continues the flow the
// form belongs to: the authorization request (a code to the client) or the device page.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, &tc, InvalidRequest("form does not parse"))
		return
	}
	f := r.PostForm
	id, userCode := f.Get("id"), f.Get("user_code")
	hidden := map[string]string{}
	var req authRequest
	var arKey string
	switch {
	case id != "":
		e, ar, err := p.loadAuthRequest(ctx, id)
		if err != nil {
			p.errorPage(w, r, &tc, err)
			return
		}
		req, arKey, hidden["id"] = ar, e.Key, id
	case userCode != "":
		hidden["user_code"] = userCode
	default:
		p.errorPage(w, r, &tc, InvalidRequest("login without a request"))
		return
	}
	login, pw := f.Get(ui.FieldLogin), f.Get(ui.FieldPassword)
	if login == "" || pw == "" || len(login) > maxLoginLen || len(pw) > user.MaxPasswordLen {
		if len(login) > maxLoginLen {
			login = "" // not a name anyone has: nothing worth echoing
		}
		p.ui.Login(w, http.StatusBadRequest, p.loginPageData(tc, hidden, login, ui.TextInvalidCredentials, req.RedirectURI))
		return
	}
	u, err := p.cfg.Authn.Authenticate(ctx, tc.T, login, pw, p.cfg.ClientIP(r))
	if err != nil {
		p.loginFailed(w, r, tc, hidden, login, req.RedirectURI, err)
		return
	}
	// A fresh sign-in replaces the browser's session: a new ID, and never a session of
	// the previous user carried over.
	if _, err := p.cfg.Sessions.End(ctx, w, r, tc.T); err != nil && !errors.Is(err, session.ErrNoSession) {
		p.log.WarnContext(ctx, "oidc: previous session not ended", "request_id", requestid.FromContext(ctx), "error", err)
	}
	sess, err := p.cfg.Sessions.Start(ctx, w, tc.T, u.ID, []string{session.AMRPassword})
	if err != nil {
		p.errorPage(w, r, &tc, wrapError(CodeTemporarilyUnavailable, err))
		return
	}
	if userCode != "" {
		http.Redirect(w, r, p.endpoint(tc, pathDevice)+"?user_code="+url.QueryEscape(userCode), http.StatusSeeOther)
		return
	}
	// The request is single use: whoever consumes it continues; a double submit stops.
	if _, err := p.cfg.Buckets.AuthRequests.Consume(ctx, arKey); err != nil {
		if lostConsume(err) {
			p.errorPage(w, r, &tc, InvalidRequest("authorization request already used"))
			return
		}
		p.errorPage(w, r, &tc, kvErr(err))
		return
	}
	p.finish(w, r, req, sess)
}

// loginFailed answers a failed sign-in with the form and a fixed text
// (ui.LoginErrorFor): the same for unknown users and wrong passwords; a lockout is 429
// with Retry-After; hashing saturated or a store down is 503 with Retry-After; a
// disabled tenant 403. The cause goes to the log, never the name typed.
func (p *Provider) loginFailed(w http.ResponseWriter, r *http.Request, tc tenantCtx, hidden map[string]string, login, redirectURI string, err error) {
	ctx := r.Context()
	text, status := ui.LoginErrorFor(err)
	var locked *authn.LockedError
	switch {
	case errors.As(err, &locked):
		retry := max(int(locked.Until.Sub(p.now()).Seconds())+1, 1)
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	p.log.Log(ctx, level, "oidc: sign-in failed", "request_id", requestid.FromContext(ctx), "tenant", tc.T.ID,
		"client_ip", p.cfg.ClientIP(r), "status", status, "cause", causeText(err))
	p.ui.Login(w, status, p.loginPageData(tc, hidden, login, text, redirectURI))
}

// causeText is an authenticator error for the log: the sentinel's text, never input.
func causeText(err error) string {
	for _, s := range []error{authn.ErrInvalidCredentials, authn.ErrLocked, authn.ErrTenantDisabled, password.ErrBusy} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return err.Error()
}

// peerIP is the default Config.ClientIP: the TCP peer's address, no header trusted.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
