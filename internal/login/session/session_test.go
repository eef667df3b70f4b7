package session_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/tenant"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	clock  *clock
	bucket kv.Bucket
	m      *session.Manager
	acme   tenant.Tenant
	globex tenant.Tenant
	user   uuid.UUID
}

func newFixture(secure bool) *fixture {
	f := &fixture{
		clock:  &clock{now: time.Date(2026, 11, 21, 12, 0, 0, 500, time.UTC)},
		acme:   tenant.Tenant{ID: uuid.New(), Slug: "acme"},
		globex: tenant.Tenant{ID: uuid.New(), Slug: "globex"},
		user:   uuid.New(),
	}
	f.bucket = kv.NewMemory(kv.SessionTTL, f.clock.Now)
	f.m = session.New(session.Config{Bucket: f.bucket, Secure: secure, Now: f.clock.Now})
	return f
}

// start begins a session at t and returns it with the cookie the response set.
func (f *fixture) start(t *testing.T, tn tenant.Tenant) (session.Session, *http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := f.m.Start(context.Background(), w, tn, f.user, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("Start set %d cookies, want 1", len(cs))
	}
	return s, cs[0]
}

func request(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://id.example/t/acme/authorize", nil)
	for _, c := range cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func TestStartCurrentEnd(t *testing.T) {
	f := newFixture(true)
	s, c := f.start(t, f.acme)
	if len(s.ID) != 43 || c.Value != s.ID {
		t.Fatalf("session ID %d chars, cookie %q: want 43 base64url chars of 256 bits in the cookie", len(s.ID), c.Value)
	}
	want := session.Session{ID: s.ID, TenantID: f.acme.ID, UserID: f.user, AMR: []string{"pwd"},
		AuthTime:  time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC),
		ExpiresAt: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Start (-want +got):\n%s", diff)
	}
	got, err := f.m.Current(context.Background(), request(c), f.acme)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Current (-want +got):\n%s", diff)
	}

	w := httptest.NewRecorder()
	ended, err := f.m.End(context.Background(), w, request(c), f.acme)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, ended); diff != "" {
		t.Errorf("End (-want +got):\n%s", diff)
	}
	cleared := w.Result().Cookies()
	if len(cleared) != 1 || cleared[0].Name != c.Name || cleared[0].MaxAge >= 0 || cleared[0].Value != "" {
		t.Errorf("End set cookies %v, want %s cleared", cleared, c.Name)
	}
	if _, err := f.m.Current(context.Background(), request(c), f.acme); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Current after End: err = %v, want ErrNoSession", err)
	}
	if _, err := f.m.End(context.Background(), httptest.NewRecorder(), request(c), f.acme); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("End twice: err = %v, want ErrNoSession", err)
	}
}

func TestCurrentRefuses(t *testing.T) {
	f := newFixture(true)
	_, c := f.start(t, f.acme)
	_, cg := f.start(t, f.globex)
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	raw[7] ^= 1
	flip := base64.RawURLEncoding.EncodeToString(raw) // well formed, one bit off
	tests := []struct {
		name    string
		tenant  tenant.Tenant
		cookies []*http.Cookie
		advance time.Duration
	}{
		{name: "no cookie", tenant: f.acme},
		{name: "cookie of another tenant", tenant: f.globex, cookies: []*http.Cookie{{Name: session.CookieName(f.acme, true), Value: c.Value}}},
		{name: "value of another tenant's cookie under this tenant's name", tenant: f.globex,
			cookies: []*http.Cookie{{Name: cg.Name, Value: c.Value}}},
		{name: "tampered value", tenant: f.acme, cookies: []*http.Cookie{{Name: c.Name, Value: flip}}},
		{name: "value padded", tenant: f.acme, cookies: []*http.Cookie{{Name: c.Name, Value: c.Value + "="}}},
		{name: "truncated value", tenant: f.acme, cookies: []*http.Cookie{{Name: c.Name, Value: c.Value[:42]}}},
		{name: "junk value", tenant: f.acme, cookies: []*http.Cookie{{Name: c.Name, Value: "<script>"}}},
		{name: "localhost cookie name in secure mode", tenant: f.acme, cookies: []*http.Cookie{{Name: "nines-acme", Value: c.Value}}},
		{name: "expired", tenant: f.acme, cookies: []*http.Cookie{c}, advance: 12 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.Add(tt.advance)
			if _, err := f.m.Current(context.Background(), request(tt.cookies...), tt.tenant); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("err = %v, want ErrNoSession", err)
			}
		})
	}
	// The other tenant's session is untouched by all of the above, but also expired now.
	f.clock.Add(-12 * time.Hour)
	if _, err := f.m.Current(context.Background(), request(cg), f.globex); err != nil {
		t.Errorf("globex's own session: %v", err)
	}
}

func TestExpiryJustBefore(t *testing.T) {
	f := newFixture(true)
	_, c := f.start(t, f.acme)
	f.clock.Add(12*time.Hour - time.Second)
	if _, err := f.m.Current(context.Background(), request(c), f.acme); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		secure     bool
		wantName   string
		wantSecure bool
	}{
		{name: "secure", secure: true, wantName: "__Host-nines-acme", wantSecure: true},
		{name: "localhost", secure: false, wantName: "nines-acme", wantSecure: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.secure)
			w := httptest.NewRecorder()
			if _, err := f.m.Start(context.Background(), w, f.acme, f.user, []string{"pwd"}); err != nil {
				t.Fatal(err)
			}
			header := w.Result().Header.Values("Set-Cookie")
			if len(header) != 1 {
				t.Fatalf("Set-Cookie = %q, want one", header)
			}
			h := header[0]
			for _, want := range []string{tt.wantName + "=", "Path=/", "Max-Age=43200", "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(h, want) {
					t.Errorf("Set-Cookie %q lacks %q", h, want)
				}
			}
			if strings.Contains(h, "Secure") != tt.wantSecure {
				t.Errorf("Set-Cookie %q: Secure present = %v, want %v", h, !tt.wantSecure, tt.wantSecure)
			}
			if strings.Contains(h, "Domain=") {
				t.Errorf("Set-Cookie %q has a Domain (host-only cookies must not)", h)
			}
			if got := session.CookieName(f.acme, tt.secure); got != tt.wantName {
				t.Errorf("CookieName = %q, want %q", got, tt.wantName)
			}
		})
	}
}

// TestKVHoldsNoCookieValue checks the stored key and value, and reports the value's size.
func TestKVHoldsNoCookieValue(t *testing.T) {
	f := newFixture(true)
	s, _ := f.start(t, f.acme)
	k := session.Key(f.acme.ID, s.ID)
	e, err := f.bucket.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("the session is not under tenant ID + digest: %v", err)
	}
	if !strings.HasPrefix(k, f.acme.ID.String()+".") || strings.Contains(k, s.ID) || strings.Contains(string(e.Value), s.ID) {
		t.Errorf("key %q / value %s: want tenant ID + digest, and no session ID anywhere", k, e.Value)
	}
	t.Logf("one session: key %d bytes, value %d bytes: %s", len(k), len(e.Value), e.Value)
	if len(e.Value) > 256 {
		t.Errorf("a session value takes %d bytes; expected well under 256", len(e.Value))
	}
}

func TestLogValueRedactsID(t *testing.T) {
	f := newFixture(true)
	s, _ := f.start(t, f.acme)
	if v := s.LogValue().String(); strings.Contains(v, s.ID) || !strings.Contains(v, f.user.String()) {
		t.Errorf("LogValue = %q: want the user and no session ID", v)
	}
}

func TestStartUnavailable(t *testing.T) {
	f := newFixture(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	if _, err := f.m.Start(ctx, w, f.acme, f.user, nil); !errors.Is(err, kv.ErrUnavailable) {
		t.Errorf("err = %v, want kv.ErrUnavailable", err)
	}
	if len(w.Result().Cookies()) != 0 {
		t.Error("a session that was not stored got a cookie")
	}
}

func FuzzCurrentCookie(f *testing.F) {
	fx := newFixture(true)
	for _, s := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("_", 43), "<script>", "a=b; c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodGet, "https://id.example/", nil)
		r.Header.Set("Cookie", session.CookieName(fx.acme, true)+"="+value)
		if _, err := fx.m.Current(context.Background(), r, fx.acme); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("cookie %q: err = %v, want ErrNoSession", value, err)
		}
	})
}

// TestInstanceTag checks that a Manager with an instance tag mints session IDs the edge
// routes by (affinity.TagOf is the tag), that such a session works like any other, and
// that IDs of every shape keep working across a restart that adds, drops or changes the
// tag: the session is in the shared KV, the tag is a routing hint only.
func TestInstanceTag(t *testing.T) {
	f := newFixture(true)
	tagged := session.New(session.Config{Bucket: f.bucket, Secure: true, Now: f.clock.Now, InstanceTag: "login-a"})
	other := session.New(session.Config{Bucket: f.bucket, Secure: true, Now: f.clock.Now, InstanceTag: "login-b"})
	w := httptest.NewRecorder()
	s, err := tagged.Start(context.Background(), w, f.acme, f.user, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	c := w.Result().Cookies()[0]
	if c.Value != s.ID || affinity.TagOf(c.Value) != "login-a" || !strings.HasPrefix(c.Value, "login-a"+affinity.Sep) ||
		len(c.Value) != len("login-a"+affinity.Sep)+43 {
		t.Fatalf("tagged session cookie %q (ID %q): want login-a.<43 base64url chars>", c.Value, s.ID)
	}
	_, untaggedCookie := f.start(t, f.acme) // the untagged fixture Manager: before the tag was set
	if tag := affinity.TagOf(untaggedCookie.Value); tag != "" {
		t.Fatalf("untagged Manager minted %q with tag %q", untaggedCookie.Value, tag)
	}
	for _, m := range []struct {
		name string
		m    *session.Manager
	}{{"untagged", f.m}, {"same tag", tagged}, {"other tag", other}} {
		for _, ck := range []*http.Cookie{c, untaggedCookie} {
			got, err := m.m.Current(context.Background(), request(ck), f.acme)
			if err != nil || got.ID != ck.Value || got.UserID != f.user {
				t.Errorf("%s Manager, cookie tagged %q: Current = %+v, %v", m.name, affinity.TagOf(ck.Value), got, err)
			}
		}
	}

	raw := strings.TrimPrefix(c.Value, "login-a"+affinity.Sep)
	for _, v := range []string{
		"login-b" + affinity.Sep + raw, // another tag: another digest, no such session
		"Login-a" + affinity.Sep + raw, // not a valid tag
		affinity.Sep + raw,             // empty tag
		"-a" + affinity.Sep + raw,
		"login-a" + affinity.Sep + raw[:42],
		"login-a" + affinity.Sep + "login-a" + affinity.Sep + raw,
		raw, // the secret without its tag is another ID
	} {
		if _, err := tagged.Current(context.Background(), request(&http.Cookie{Name: c.Name, Value: v}), f.acme); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("cookie %q: err = %v, want ErrNoSession", v, err)
		}
	}

	if _, err := other.End(context.Background(), httptest.NewRecorder(), request(c), f.acme); err != nil {
		t.Fatalf("End on another process: %v", err)
	}
	if _, err := tagged.Current(context.Background(), request(c), f.acme); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Current after End: err = %v, want ErrNoSession", err)
	}
}
