package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The scopes of every sign-in: offline_access so that each one yields a refresh token.
const signInScope = "openid profile email offline_access"

var (
	loginFormAction  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	loginHiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// browser is a user agent with jar: it follows the identity provider's redirects (at
// most 10) and stops at the one to the relying party, which it returns.
func (c *loadClient) browser(jar http.CookieJar) *http.Client {
	return &http.Client{Transport: c.transport, Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), c.rp) {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		return nil
	}}
}

// authRequest is one authorization request's state, nonce and PKCE verifier.
type authRequest struct{ state, nonce, verifier string }

func newAuthRequest() authRequest {
	return authRequest{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
}

// authorizeURL is the authorization request (PKCE S256, OIDC Core §3.1.2.1).
func (c *loadClient) authorizeURL(a authRequest) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.t.Client.ID},
		"redirect_uri":          {c.t.Client.RedirectURI},
		"scope":                 {signInScope},
		"state":                 {a.state},
		"nonce":                 {a.nonce},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(a.verifier)},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(c.authorize, "?") {
		sep = "&"
	}
	return c.authorize + sep + q.Encode()
}

// passwordSignIn is FlowPassword with a fresh browser, as the next user in turn.
func (c *loadClient) passwordSignIn(ctx context.Context) (int, error) {
	u := c.t.Users[int((c.nextUser.Add(1)-1)%int64(len(c.t.Users)))]
	jar := newJar()
	b := c.browser(jar)
	a := newAuthRequest()
	req, _ := http.NewRequest(http.MethodGet, c.authorizeURL(a), nil)
	page, err := sendStep(ctx, b, req, "authorize")
	if err != nil {
		return page.status, err
	}
	if page.status != http.StatusOK || !bytes.Contains(page.body, []byte(`name="password"`)) {
		return page.status, stepFail("authorize", statusClass(page.status), page.status, "want the login form, got %d: %.200s", page.status, page.body)
	}
	m := loginFormAction.FindSubmatch(page.body)
	if m == nil {
		return page.status, stepFail("authorize", ClassProtocol, page.status, "no form on the login page")
	}
	action, err := page.url.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return page.status, stepFail("authorize", ClassProtocol, page.status, "form action: %v", err)
	}
	form := url.Values{}
	for _, h := range loginHiddenInput.FindAllSubmatch(page.body, -1) {
		form.Set(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	form.Set("login", u.Username)
	form.Set("password", u.Password)
	req, _ = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := sendStep(ctx, b, req, "login")
	if err != nil {
		var se *stepError
		if errors.As(err, &se) && se.class != ClassConnect {
			c.uncertain.Add(1) // sent, perhaps handled: the command may have been issued
		}
		return resp.status, err
	}
	if resp.status >= 500 {
		c.uncertain.Add(1)
	}
	code, err := c.callbackCode("login", resp, a)
	if err != nil {
		return resp.status, err
	}
	c.issued.Add(1)
	status, err := c.redeem(ctx, code, a)
	if err == nil {
		c.sessions.put(jar)
	}
	return status, err
}

// ssoSignIn is FlowSSO: a browser with a session asks again and gets a code at once.
func (c *loadClient) ssoSignIn(ctx context.Context) (int, error) {
	jar := c.sessions.get()
	if jar == nil {
		return 0, stepFail("authorize", ClassNoToken, 0, "no browser with a session yet")
	}
	a := newAuthRequest()
	req, _ := http.NewRequest(http.MethodGet, c.authorizeURL(a), nil)
	resp, err := sendStep(ctx, c.browser(jar), req, "authorize")
	if err != nil {
		return resp.status, err
	}
	if resp.status == http.StatusOK && bytes.Contains(resp.body, []byte(`name="password"`)) {
		c.sessions.drop(jar)
		return resp.status, stepFail("authorize", ClassSessionLost, resp.status, "the login form: the session is gone")
	}
	code, err := c.callbackCode("authorize", resp, a)
	if err != nil {
		return resp.status, err
	}
	return c.redeem(ctx, code, a)
}

// callbackCode reads the code from a redirect to the relying party (RFC 6749 §4.1.2)
// and checks its state and issuer (RFC 9207).
func (c *loadClient) callbackCode(step string, resp stepResponse, a authRequest) (string, error) {
	if resp.status != http.StatusFound && resp.status != http.StatusSeeOther {
		if resp.status == http.StatusOK {
			return "", stepFail(step, ClassProtocol, resp.status, "a page instead of the redirect to the callback (wrong password? locked?): %.200s", resp.body)
		}
		return "", stepFail(step, statusClass(resp.status), resp.status, "want a redirect to the callback, got %d: %.200s", resp.status, resp.body)
	}
	loc, err := url.Parse(resp.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), c.rp) {
		return "", stepFail(step, ClassProtocol, resp.status, "redirect to %q, want the callback %s", resp.header.Get("Location"), c.rp)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", stepFail(step, ClassProtocol, resp.status, "the callback got error=%s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != a.state || q.Get("code") == "" {
		return "", stepFail(step, ClassProtocol, resp.status, "the callback has no code or the wrong state")
	}
	if iss := q.Get("iss"); iss != "" && iss != c.issuer {
		return "", stepFail(step, ClassProtocol, resp.status, "the callback's iss %q is not the issuer %q", iss, c.issuer)
	}
	return q.Get("code"), nil
}

// redeem exchanges code at the token endpoint, verifies the ID token and its nonce, and
// keeps the refresh token.
func (c *loadClient) redeem(ctx context.Context, code string, a authRequest) (int, error) {
	tr, status, err := c.tokenRequest(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.t.Client.RedirectURI}, "code_verifier": {a.verifier}})
	if err != nil {
		return status, err
	}
	idt, err := c.verifier.Verify(ctx, tr.IDToken)
	if err != nil {
		return status, stepFail("verify", ClassProtocol, status, "ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		return status, stepFail("verify", ClassProtocol, status, "ID token nonce %q, want %q", idt.Nonce, a.nonce)
	}
	c.keepAccess(tr)
	if tr.RefreshToken != "" {
		c.refresh.put(tr.RefreshToken)
	}
	return status, nil
}

// refreshGrant is FlowRefresh: the oldest refresh token is redeemed and its successor
// takes its place. A failed refresh drops the token: whether the server rotated it is
// unknown, and presenting a spent one would revoke its family.
func (c *loadClient) refreshGrant(ctx context.Context) (int, error) {
	rt, ok := c.refresh.take()
	if !ok {
		return 0, stepFail("token", ClassNoToken, 0, "no refresh token at hand")
	}
	tr, status, err := c.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil {
		return status, err
	}
	if tr.RefreshToken == "" || tr.RefreshToken == rt {
		return status, stepFail("token", ClassProtocol, status, "the refresh did not rotate the refresh token")
	}
	c.refresh.put(tr.RefreshToken)
	c.keepAccess(tr)
	return status, nil
}

// clientCredentials is FlowClientCredentials (RFC 6749 §4.4).
func (c *loadClient) clientCredentials(ctx context.Context) (int, error) {
	_, status, err := c.tokenRequest(ctx, url.Values{"grant_type": {"client_credentials"}})
	return status, err
}

// userInfo is FlowUserinfo (OIDC Core §5.3) with a recent user's access token.
func (c *loadClient) userInfo(ctx context.Context) (int, error) {
	at, ok := c.access.get(time.Now())
	if !ok {
		return 0, stepFail("userinfo", ClassNoToken, 0, "no access token at hand")
	}
	if c.userinfo == "" {
		return 0, stepFail("userinfo", ClassProtocol, 0, "discovery has no userinfo_endpoint")
	}
	req, _ := http.NewRequest(http.MethodGet, c.userinfo, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := sendStep(ctx, c.hc, req, "userinfo")
	if err != nil {
		return resp.status, err
	}
	if resp.status != http.StatusOK {
		return resp.status, stepFail("userinfo", statusClass(resp.status), resp.status, "%d: %.200s", resp.status, resp.body)
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(resp.body, &claims); err != nil || claims.Sub == "" {
		return resp.status, stepFail("userinfo", ClassProtocol, resp.status, "a 200 without a sub: %.200s", resp.body)
	}
	return resp.status, nil
}

// admin makes one admin API request for the tenant (path below …/tenants/{t}).
func (c *loadClient) admin(ctx context.Context, method, path string, body any, want int) (stepResponse, error) {
	u := strings.TrimSuffix(c.t.AdminURL, "/") + "/admin/v1/tenants/" + url.PathEscape(c.t.Tenant) + path
	var r *http.Request
	if body != nil {
		b, _ := json.Marshal(body)
		r, _ = http.NewRequest(method, u, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r, _ = http.NewRequest(method, u, nil)
	}
	r.Header.Set("Authorization", "Bearer "+c.t.AdminToken)
	resp, err := sendStep(ctx, c.adminHC, r, "admin")
	if err != nil {
		return resp, err
	}
	if resp.status != want {
		return resp, stepFail("admin", statusClass(resp.status), resp.status, "%s %s: %d: %.200s", method, path, resp.status, resp.body)
	}
	return resp, nil
}

// adminListUsers is FlowAdminList.
func (c *loadClient) adminListUsers(ctx context.Context) (int, error) {
	resp, err := c.admin(ctx, http.MethodGet, "/users?limit=20", nil, http.StatusOK)
	return resp.status, err
}

// adminCreateGroup is FlowAdminCreate: a group named after the run and a counter.
func (c *loadClient) adminCreateGroup(ctx context.Context) (int, error) {
	name := fmt.Sprintf("load-%s-%d", c.runID, c.nextGroup.Add(1))
	resp, err := c.admin(ctx, http.MethodPost, "/groups",
		map[string]string{"name": name, "description": "created by nines lab load"}, http.StatusCreated)
	return resp.status, err
}
