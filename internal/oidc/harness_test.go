package oidc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/login/ui"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// errNotFound is the fakes' "no such entity" (the store's sentinel has the same text).
var errNotFound = errors.New("not found")

// world is an in-memory identity provider deployment: two tenants, users, applications,
// keys, in-memory KV buckets, fake authn and sessions, and a Provider on a loopback
// httptest server.
type world struct {
	t       testing.TB
	srv     *httptest.Server
	p       *Provider
	kek     []byte
	buckets kv.Buckets
	clock   *clock

	mu      sync.Mutex
	tenants map[string]tenant.Tenant
	users   map[uuid.UUID]user.User
	groups  map[uuid.UUID][]user.Group
	apps    map[string]client.Application // tenantID/clientID
	keys    map[uuid.UUID][]keys.Key
	secrets map[string]string // tenantID/clientID → secret
	signins int
	hasher  *password.Hasher
	authn   *authn.Authenticator
	pwHash  string
}

// fastHash keeps the tests quick; BenchmarkSignIn uses OWASP parameters.
var fastHash = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

const testPassword = "correct horse battery staple"

func newWorld(t testing.TB, opts ...func(*Config)) *world {
	t.Helper()
	return newWorldWith(t, fastHash, nil, opts...)
}

// newWorldHashing is newWorld with the given password hashing parameters.
func newWorldHashing(t testing.TB, params password.Params, opts ...func(*Config)) *world {
	t.Helper()
	return newWorldWith(t, params, nil, opts...)
}

// newWorldWith is newWorld with hashing parameters and KV buckets (nil: in memory).
func newWorldWith(t testing.TB, params password.Params, buckets *kv.Buckets, opts ...func(*Config)) *world {
	t.Helper()
	w := &world{t: t, kek: make([]byte, 32), clock: &clock{now: time.Now()},
		tenants: map[string]tenant.Tenant{}, users: map[uuid.UUID]user.User{}, groups: map[uuid.UUID][]user.Group{},
		apps: map[string]client.Application{}, keys: map[uuid.UUID][]keys.Key{}, secrets: map[string]string{}}
	for i := range w.kek {
		w.kek[i] = byte(i + 1)
	}
	now := w.clock.Now
	w.buckets = kv.Buckets{
		AuthRequests: kv.NewMemory(kv.AuthRequestTTL, now), Codes: kv.NewMemory(kv.CodeTTL, now),
		Sessions: kv.NewMemory(kv.SessionTTL, now), DeviceCodes: kv.NewMemory(kv.DeviceCodeTTL, now),
		Throttle: kv.NewMemory(kv.ThrottleTTL, now), Refresh: kv.NewMemory(kv.RefreshTTL, now),
	}
	if buckets != nil {
		w.buckets = *buckets
	}
	mux := http.NewServeMux()
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	renderer, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	w.hasher = password.New(password.Config{Params: params})
	w.authn = authn.New(authn.Config{Users: w, Hasher: w.hasher, Throttle: w.buckets.Throttle, Recorder: w, Now: now})
	cfg := Config{
		PublicURL: w.srv.URL, Tenants: w, Users: w, Apps: w, Keys: w, KEK: w.kek, Buckets: w.buckets,
		Authn: w.authn, Sessions: session.New(session.Config{Bucket: w.buckets.Sessions, Now: now}), UI: renderer,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now,
		NotFound: func(err error) bool { return errors.Is(err, errNotFound) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.p = p
	p.Mount(mux)
	for _, slug := range []string{"acme", "globex"} {
		w.addTenant(slug)
	}
	return w
}

func (w *world) addTenant(slug string) tenant.Tenant {
	w.t.Helper()
	tn := tenant.Tenant{ID: uuid.New(), Slug: slug, DisplayName: strings.ToUpper(slug), Status: tenant.StatusActive,
		Lockout: tenant.LockoutPolicy{Threshold: 3, Duration: 15 * time.Minute}}
	tn.ApplyDefaults()
	ks, err := keys.NewSet(tn.ID, w.kek)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.tenants[slug], w.keys[tn.ID] = tn, ks
	w.mu.Unlock()
	alice := w.addUser(tn, "alice", "alice@example.com")
	w.mu.Lock()
	w.groups[alice.ID] = []user.Group{{ID: uuid.New(), TenantID: tn.ID, Name: "admins"}, {ID: uuid.New(), TenantID: tn.ID, Name: "dev"}}
	w.mu.Unlock()
	w.addUser(tn, "bob", "bob@example.com")
	cb := "http://127.0.0.1/cb"
	w.addApp(tn, client.Application{ClientID: "web", ClientName: "Web", Type: client.Confidential,
		RedirectURIs: []string{cb}, PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken}})
	w.addApp(tn, client.Application{ClientID: "web2", ClientName: "Web Two", Type: client.Confidential,
		RedirectURIs: []string{cb}, GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		IDTokenSignedResponseAlg: "ES256"})
	w.addApp(tn, client.Application{ClientID: "spa", ClientName: "SPA", Type: client.Public,
		RedirectURIs: []string{cb}, GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken}})
	w.addApp(tn, client.Application{ClientID: "svc", ClientName: "Service", Type: client.Confidential,
		GrantTypes: []string{client.GrantClientCredentials}})
	w.addApp(tn, client.Application{ClientID: "svc-es", ClientName: "Service ES", Type: client.Confidential,
		GrantTypes: []string{client.GrantClientCredentials}, IDTokenSignedResponseAlg: "ES256"})
	w.addApp(tn, client.Application{ClientID: "tv", ClientName: "TV", Type: client.Public,
		GrantTypes: []string{client.GrantDeviceCode, client.GrantRefreshToken}})
	return tn
}

func (w *world) addUser(tn tenant.Tenant, name, email string) user.User {
	w.mu.Lock()
	if w.pwHash == "" {
		h, err := w.hasher.Hash(context.Background(), testPassword)
		if err != nil {
			w.t.Fatal(err)
		}
		w.pwHash = h
	}
	u := user.User{ID: uuid.New(), TenantID: tn.ID, Username: name, Email: email, EmailVerified: true,
		GivenName: strings.ToUpper(name[:1]) + name[1:], FamilyName: "Example", Status: user.StatusActive,
		PasswordHash: w.pwHash}
	w.users[u.ID] = u
	w.mu.Unlock()
	return u
}

// addApp registers app in tn and returns its secret ("" for public clients).
func (w *world) addApp(tn tenant.Tenant, app client.Application) string {
	app.ID, app.TenantID = uuid.New(), tn.ID
	app.ApplyDefaults()
	var secret string
	if app.UsesSecret() {
		secret, app.SecretDigest = client.GenerateSecret()
	}
	if es := app.Validate(); len(es) > 0 {
		w.t.Fatalf("app %s: %v", app.ClientID, es)
	}
	w.mu.Lock()
	w.apps[tn.ID.String()+"/"+app.ClientID] = app
	w.secrets[tn.ID.String()+"/"+app.ClientID] = secret
	w.mu.Unlock()
	return secret
}

func (w *world) tenant(slug string) tenant.Tenant {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tenants[slug]
}

func (w *world) secret(slug, clientID string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.secrets[w.tenants[slug].ID.String()+"/"+clientID]
}

func (w *world) issuer(slug string) string { return w.srv.URL + "/t/" + slug }

func (w *world) userByName(slug, name string) user.User {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.users {
		if u.TenantID == w.tenants[slug].ID && u.Username == name {
			return u
		}
	}
	w.t.Fatalf("no user %s", name)
	return user.User{}
}

// The world is every reader the Provider needs.

func (w *world) TenantBySlug(_ context.Context, slug string) (tenant.Tenant, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.tenants[slug]
	if !ok {
		return tenant.Tenant{}, errNotFound
	}
	return t, nil
}

func (w *world) User(_ context.Context, tid, id uuid.UUID) (user.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u, ok := w.users[id]
	if !ok || u.TenantID != tid {
		return user.User{}, errNotFound
	}
	return u, nil
}

func (w *world) UserByUsername(_ context.Context, tid uuid.UUID, name string) (user.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.users {
		if u.TenantID == tid && u.Username == strings.ToLower(name) {
			return u, nil
		}
	}
	return user.User{}, errNotFound
}

func (w *world) UserByEmail(_ context.Context, tid uuid.UUID, email string) (user.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.users {
		if u.TenantID == tid && u.Email == strings.ToLower(email) {
			return u, nil
		}
	}
	return user.User{}, errNotFound
}

func (w *world) GroupsOfUser(_ context.Context, tid, uid uuid.UUID) ([]user.Group, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.groups[uid], nil
}

func (w *world) ApplicationByClientID(_ context.Context, tid uuid.UUID, clientID string) (client.Application, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.apps[tid.String()+"/"+clientID]
	if !ok {
		return client.Application{}, errNotFound
	}
	return a, nil
}

func (w *world) SigningKeys(_ context.Context, tid uuid.UUID) ([]keys.Key, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys[tid], nil
}

func (w *world) SignedIn(context.Context, uuid.UUID, uuid.UUID, time.Time) error {
	w.mu.Lock()
	w.signins++
	w.mu.Unlock()
	return nil
}

func (w *world) PasswordRehashed(context.Context, uuid.UUID, uuid.UUID, string) error { return nil }

func (w *world) SignInFailed(context.Context, uuid.UUID, uuid.UUID, string, string) error { return nil }

// browser is a user agent with a cookie jar that stops at the client's callback.
type browser struct {
	t  testing.TB
	hc *http.Client
}

const callback = "http://127.0.0.1/cb"

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), callback) || strings.HasPrefix(req.URL.String(), "http://127.0.0.1/bye") || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return &browser{t: t, hc: hc}
}

var (
	hiddenPattern = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	actionPattern = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// page is a fetched HTML page.
type page struct {
	status int
	body   string
	header http.Header
	url    *url.URL
}

func (b *browser) get(u string) page {
	b.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(b.t, resp)
}

func readPage(t testing.TB, resp *http.Response) page {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return page{status: resp.StatusCode, body: string(body), header: resp.Header, url: resp.Request.URL}
}

// submit posts the page's form with its hidden fields plus extra.
func (b *browser) submit(pg page, extra url.Values) page {
	b.t.Helper()
	m := actionPattern.FindStringSubmatch(pg.body)
	if m == nil {
		b.t.Fatalf("no form on page (status %d): %s", pg.status, pg.body)
	}
	form := url.Values{}
	for _, h := range hiddenPattern.FindAllStringSubmatch(pg.body, -1) {
		form.Set(h[1], htmlUnescape(h[2]))
	}
	for k, vs := range extra {
		form[k] = vs
	}
	resp, err := b.hc.PostForm(htmlUnescape(m[1]), form)
	if err != nil {
		b.t.Fatal(err)
	}
	return readPage(b.t, resp)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// callbackParams returns the query of a redirect to the client's callback.
func callbackParams(t testing.TB, pg page) url.Values {
	t.Helper()
	if pg.status != http.StatusSeeOther && pg.status != http.StatusFound {
		t.Fatalf("status %d, want a redirect to the callback; body: %.500s", pg.status, pg.body)
	}
	loc, err := url.Parse(pg.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), callback) {
		t.Fatalf("redirect to %q, want the callback", pg.header.Get("Location"))
	}
	return loc.Query()
}

func newRequest(method, u string) (*http.Request, error) { return http.NewRequest(method, u, nil) }
