package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/login/ui"
)

// endSession is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2–§3): the
// SSO session ends; the browser goes to post_logout_redirect_uri only when it exactly
// matches one registered for the client named by client_id or by the id_token_hint's
// audience (§3: never an open redirect); otherwise the signed-out page is shown.
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
	for k, vs := range q {
		if len(vs) > 1 || len(vs[0]) > maxJWTLen {
			p.errorPage(w, r, &tc, InvalidRequest("parameter %q repeated or long", trunc(k)))
			return
		}
	}
	clientID, target := q.Get("client_id"), q.Get("post_logout_redirect_uri")
	if hint := q.Get("id_token_hint"); hint != "" {
		aud, err := p.hintAudience(r, hint)
		if err != nil {
			p.errorPage(w, r, &tc, err)
			return
		}
		if clientID != "" && clientID != aud {
			p.errorPage(w, r, &tc, InvalidRequest("client_id does not match the id_token_hint"))
			return
		}
		clientID = aud
	}
	if target != "" {
		if clientID == "" {
			p.errorPage(w, r, &tc, InvalidRequest("post_logout_redirect_uri without a client"))
			return
		}
		app, err := p.application(ctx, clientID)
		if err != nil {
			p.errorPage(w, r, &tc, err)
			return
		}
		if !redirectAllowed(app.PostLogoutRedirectURIs, target) {
			p.errorPage(w, r, &tc, InvalidRequest("post_logout_redirect_uri %q not registered for %q", trunc(target), app.ClientID))
			return
		}
	}
	if _, err := p.cfg.Sessions.End(ctx, w, r, tc.T); err != nil && !errors.Is(err, session.ErrNoSession) {
		p.errorPage(w, r, &tc, wrapError(CodeTemporarilyUnavailable, err))
		return
	}
	if target == "" {
		p.ui.SignedOut(w, ui.SignedOutPage{Tenant: tc.T, StylesheetURL: p.endpoint(tc, pathStylesheet)})
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		p.errorPage(w, r, &tc, ServerError(err))
		return
	}
	if st := q.Get("state"); st != "" {
		v := u.Query()
		v.Set("state", st)
		u.RawQuery = v.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// hintAudience verifies an id_token_hint (signature by this tenant, issuer) and returns
// its single audience. Expiry is not checked (§2: an expired ID token is a fine hint).
func (p *Provider) hintAudience(r *http.Request, hint string) (string, error) {
	tc := tenantFrom(r.Context())
	payload, err := p.keys.verifyJWT(r.Context(), tc.T.ID, hint, "JWT")
	if err != nil {
		return "", InvalidRequest("id_token_hint: %v", err)
	}
	var c struct {
		Iss string   `json:"iss"`
		Aud audience `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != tc.Issuer || len(c.Aud) != 1 {
		return "", InvalidRequest("id_token_hint claims")
	}
	return c.Aud[0], nil
}

// audience reads "aud" as a string or an array (RFC 7519 §4.1.3).
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
