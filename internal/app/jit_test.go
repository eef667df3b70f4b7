package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The legacy store of the just-in-time tests: these users, each with legacyPassword.
const (
	legacyPassword = "legacy store password 7"
	jitNotice      = "We could not check your account right now. Try again in a few minutes."
	jitSetupFailed = "Your account could not be set up right now. Try again in a few minutes."
)

var legacyUsers = map[string]map[string]string{
	"newbie":    {"username": "newbie", "email": "newbie@example.com", "given_name": "New", "family_name": "Bie"},
	"latecomer": {"username": "LateComer", "given_name": "Late"},
}

// legacyStore is a legacy password-check endpoint (the contract of internal/login/
// provision) on loopback, counting the checks it answers.
type legacyStore struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func startLegacyStore(t *testing.T) *legacyStore {
	t.Helper()
	l := &legacyStore{}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hits.Add(1)
		var in struct{ Username, Password string }
		if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in) != nil {
			http.Error(w, "a JSON POST please", http.StatusBadRequest)
			return
		}
		p, ok := legacyUsers[strings.ToLower(in.Username)]
		if !ok || in.Password != legacyPassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// jitClient is the relying party of the just-in-time tests, against issuer.
func jitClient(t *testing.T, issuer, rpURL, secret string) *signinFlow {
	t.Helper()
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &signinFlow{ctx: ctx, issuer: issuer, rp: rpURL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rpURL + "/callback", Scopes: []string{gooidc.ScopeOpenID, "profile", "email"}}}
}

// submitLogin opens the login form in a fresh browser and posts login and pw; it
// returns the request (for redeem) and the answer.
func (f *signinFlow) submitLogin(t *testing.T, login, pw string) (authRequest, signinPage) {
	t.Helper()
	b := newSigninBrowser(t, f.rp)
	req := f.newRequest()
	pg := b.get(f.conf.AuthCodeURL(req.state, req.opts()...))
	if !pg.isLoginForm() {
		t.Fatalf("authorize: want the login form, got %d: %.500s", pg.status, pg.body)
	}
	return req, b.submit(pg, url.Values{"login": {login}, "password": {pw}})
}

// wantFormError checks that pg is the login form again with status and text.
func wantFormError(t *testing.T, what string, pg signinPage, status int, text string) {
	t.Helper()
	if pg.status != status || !strings.Contains(pg.body, text) || !strings.Contains(pg.body, `name="password"`) {
		t.Fatalf("%s: status %d, want %d with %q on the form: %.800s", what, pg.status, status, text, pg.body)
	}
}

type adminUserJSON struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	GivenName   string `json:"given_name"`
	HasPassword bool   `json:"has_password"`
}

// adminUserByName finds a user through the admin API; ok false when there is none.
func adminUserByName(t *testing.T, base, token, slug, username string) (adminUserJSON, bool) {
	t.Helper()
	code, b := get(t, base+"/admin/v1/tenants/"+slug+"/users?username="+url.QueryEscape(username), token)
	var list struct{ Items []adminUserJSON }
	if err := json.Unmarshal(b, &list); code != http.StatusOK || err != nil || len(list.Items) > 1 {
		t.Fatalf("find user: %d %s", code, b)
	}
	if len(list.Items) == 0 {
		return adminUserJSON{}, false
	}
	return list.Items[0], true
}

// setUserImport points the tenant's import source at u through the admin API.
func setUserImport(t *testing.T, base, token, slug, u string) {
	t.Helper()
	code, _, b := send(t, http.MethodPatch, base+"/admin/v1/tenants/"+slug, token, `{"user_import":{"url":"`+u+`"}}`)
	if code != http.StatusOK || !strings.Contains(string(b), u) {
		t.Fatalf("set user_import: %d %s", code, b)
	}
}

// TestJustInTimeProvisioning is issue 4 item 6's acceptance test on the all role, as
// `nines serve` runs it: a user unknown to nines but known to the tenant's legacy store
// signs in through the hosted form with a standard OIDC client and gets an ID token;
// the user then exists in the admin API with a usable password (the next sign-in works
// with the legacy store gone), and user.provisioned is in the tenant's events. With the
// admin API read-only, a just-in-time sign-in fails with its own message and 503 while
// an existing user signs in; a legacy store that is down gives its own message too.
func TestJustInTimeProvisioning(t *testing.T) {
	r := startSignin(t)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, r.base, rp.URL)
	legacy := startLegacyStore(t)
	setUserImport(t, r.base, signinAdminToken, "acme", legacy.srv.URL+"/check")
	f := jitClient(t, r.base+"/t/acme", rp.URL, secret)

	// First sign-in: imported, created through the admin API, signed in.
	req, pg := f.submitLogin(t, "NewBie", legacyPassword)
	_, idt := f.redeem(t, req, pg)
	var claims struct {
		Email string `json:"email"`
		Given string `json:"given_name"`
		Name  string `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != "newbie@example.com" || claims.Given != "New" || claims.Name != "newbie" {
		t.Errorf("ID token claims %+v", claims)
	}
	u, ok := adminUserByName(t, r.base, signinAdminToken, "acme", "newbie")
	if !ok || u.ID != idt.Subject || !u.HasPassword || u.Email != "newbie@example.com" {
		t.Fatalf("admin API user %+v (found %v), want the ID token's subject %s with a password", u, ok, idt.Subject)
	}
	if n := legacy.hits.Load(); n != 1 {
		t.Errorf("legacy store asked %d times, want 1", n)
	}
	waitEvent(t, r.base, "acme", "user.provisioned", u.ID)

	// The legacy store goes away: the imported user signs in with the stored password.
	legacy.srv.Close()
	req, pg = f.submitLogin(t, "newbie", legacyPassword)
	if _, idt2 := f.redeem(t, req, pg); idt2.Subject != idt.Subject {
		t.Errorf("second sign-in: sub %q, want %q", idt2.Subject, idt.Subject)
	}
	_, pg = f.submitLogin(t, "newbie", "not the password")
	wantFormError(t, "imported user, wrong password", pg, http.StatusBadRequest, "Incorrect username or password.")

	// Read-only admin API: a just-in-time sign-in fails with its message; the others work.
	legacy2 := startLegacyStore(t)
	setUserImport(t, r.base, signinAdminToken, "acme", legacy2.srv.URL+"/check")
	if code, _, b := send(t, http.MethodPut, r.base+"/admin/v1/readonly", signinAdminToken, `{"enabled":true,"reason":"jit drill"}`); code != http.StatusOK {
		t.Fatalf("read-only on: %d %s", code, b)
	}
	_, pg = f.submitLogin(t, "latecomer", legacyPassword)
	wantFormError(t, "just-in-time with the admin API read-only", pg, http.StatusServiceUnavailable, jitSetupFailed)
	if _, ok := adminUserByName(t, r.base, signinAdminToken, "acme", "latecomer"); ok {
		t.Fatal("latecomer was created in read-only mode")
	}
	_, pg = f.submitLogin(t, "latecomer", "a wrong guess")
	wantFormError(t, "just-in-time, wrong password, read-only", pg, http.StatusBadRequest, "Incorrect username or password.")
	for _, existing := range []struct{ login, pw string }{{"alice", "correct horse battery staple"}, {"newbie", legacyPassword}} {
		req, pg = f.submitLogin(t, existing.login, existing.pw)
		f.redeem(t, req, pg)
	}

	// Back to read-write: the same sign-in now works.
	if code, _, b := send(t, http.MethodPut, r.base+"/admin/v1/readonly", signinAdminToken, `{"enabled":false}`); code != http.StatusOK {
		t.Fatalf("read-only off: %d %s", code, b)
	}
	req, pg = f.submitLogin(t, "latecomer", legacyPassword)
	_, idt3 := f.redeem(t, req, pg)
	if late, ok := adminUserByName(t, r.base, signinAdminToken, "acme", "latecomer"); !ok || late.ID != idt3.Subject || late.Email != "" {
		t.Errorf("latecomer after recovery: %+v (found %v)", late, ok)
	}

	// The legacy store is down: an unknown name gets its message; a known user signs in.
	legacy2.srv.Close()
	_, pg = f.submitLogin(t, "stranger", legacyPassword)
	wantFormError(t, "legacy store down", pg, http.StatusServiceUnavailable, jitNotice)
	req, pg = f.submitLogin(t, "alice", "correct horse battery staple")
	f.redeem(t, req, pg)

	// The managed provisioning token is provision-scoped, one of its kind, never logged.
	code, b := get(t, r.base+"/admin/v1/tokens", signinAdminToken)
	if code != http.StatusOK || strings.Count(string(b), `"scope":"provision"`) != 1 {
		t.Errorf("tokens: %d %s; want exactly one provision-scoped token", code, b)
	}
	log := strings.ToLower(r.log.String() + r.console.String())
	for _, s := range []string{legacyPassword, "newbie", "latecomer", "stranger", "newbie@example.com"} {
		if strings.Contains(log, s) {
			t.Errorf("the server log holds %q", s)
		}
	}
	for _, want := range []string{"user import: the admin api is unavailable", "user import: the tenant's import source is unavailable"} {
		if !strings.Contains(log, want) {
			t.Errorf("the server log lacks %q", want)
		}
	}
}

// waitEvent polls the tenant's events (bounded) until one of type typ about userID is
// there: the worker applies the login tier's commands asynchronously.
func waitEvent(t *testing.T, base, slug, typ, userID string) {
	t.Helper()
	var b []byte
	for range 200 {
		var code int
		code, b = get(t, base+"/admin/v1/tenants/"+slug+"/events?type="+typ, signinAdminToken)
		var list struct {
			Items []struct {
				Type   string `json:"type"`
				UserID string `json:"user_id"`
			}
		}
		if code == http.StatusOK && json.Unmarshal(b, &list) == nil {
			for _, e := range list.Items {
				if e.Type == typ && e.UserID == userID {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s event about %s; last answer %s", typ, userID, b)
}
