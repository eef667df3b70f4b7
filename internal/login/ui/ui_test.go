package ui_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/login/ui"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/tenant"
)

const hostile = `"><script>alert(1)</script>`

var (
	acme    = tenant.Tenant{Slug: "acme", DisplayName: "Acme Corp", PrimaryColor: "#0a7d33"}
	evil    = tenant.Tenant{Slug: "evil", DisplayName: hostile}
	inputRE = regexp.MustCompile(`<input [^>]*>`)
	idRE    = regexp.MustCompile(` id="([^"]*)"`)
)

func renderer(t *testing.T) *ui.Renderer {
	t.Helper()
	r, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// page is one rendering, the way a handler would call it.
type page struct {
	name       string
	render     func(*ui.Renderer, http.ResponseWriter)
	wantStatus int
	want       []string // substrings of the body
	formAction string   // the CSP's form-action sources
}

func pages() []page {
	hidden := map[string]string{"auth_request": "r-123", "x" + hostile: "v" + hostile}
	return []page{
		{name: "login", wantStatus: 200, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Login(w, 0, ui.LoginPage{Tenant: acme, Action: "/t/acme/login", Hidden: hidden, StylesheetURL: "/t/acme/ui.css"})
			},
			want: []string{`<title>Sign in – Acme Corp</title>`, `action="/t/acme/login"`, `name="auth_request" value="r-123"`,
				`autocomplete="username"`, `autocomplete="current-password"`, `name="login"`, `name="password"`,
				`<link rel="stylesheet" href="/t/acme/ui.css">`, `id="login" name="login" type="text" value="" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>`}},
		{name: "login with error, hint and redirect", wantStatus: 400, formAction: "'self' https://app.example:8443",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Login(w, 400, ui.LoginPage{Tenant: acme, Action: "/t/acme/login", Login: "alice" + hostile,
					Error: ui.TextInvalidCredentials, RedirectURI: "https://App.example:8443/cb?x=1"})
			},
			want: []string{`<p class="alert" role="alert" id="form-error">Incorrect username or password.</p>`,
				`value="alice&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`, `aria-describedby="form-error"`,
				`type="password" autocomplete="current-password" required aria-invalid="true" aria-describedby="form-error" autofocus>`}},
		{name: "login for a native app", wantStatus: 200, formAction: "'self' com.example.app:",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Login(w, 0, ui.LoginPage{Tenant: acme, Action: "/t/acme/login", RedirectURI: "com.example.app:/oauth2redirect"})
			}},
		{name: "login with an injected redirect", wantStatus: 200, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Login(w, 0, ui.LoginPage{Tenant: acme, Action: "/t/acme/login", RedirectURI: "https://a.example; script-src *"})
			}},
		{name: "login with a javascript redirect", wantStatus: 200, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Login(w, 0, ui.LoginPage{Tenant: acme, Action: "javascript:alert(1)", RedirectURI: "javascript:alert(1)"})
			},
			want: []string{`action="#ZgotmplZ"`}},
		{name: "login of a hostile tenant", wantStatus: 200, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Login(w, 0, ui.LoginPage{Tenant: evil, Action: "/t/evil/login", Hidden: hidden})
			},
			want: []string{`<title>Sign in – &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>`}},
		{name: "signed out", wantStatus: 200, formAction: "'none'",
			render: func(r *ui.Renderer, w http.ResponseWriter) { r.SignedOut(w, ui.SignedOutPage{Tenant: evil}) },
			want:   []string{`<title>Signed out – &#34;&gt;`, `You have signed out of &#34;&gt;&lt;script&gt;`}},
		{name: "device code entry", wantStatus: 200, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.DeviceCode(w, 0, ui.DevicePage{Tenant: acme, Action: "/t/acme/device", UserCode: "WDJB" + hostile, Hidden: hidden})
			},
			want: []string{`<label for="user_code">`, `autocomplete="one-time-code"`, `name="auth_request" value="r-123"`,
				`value="WDJB&#34;&gt;&lt;script&gt;`}},
		{name: "device code error", wantStatus: 400, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.DeviceCode(w, 400, ui.DevicePage{Tenant: acme, Action: "/t/acme/device", Error: "That code is not valid."})
			},
			want: []string{`role="alert"`, `aria-invalid="true"`}},
		{name: "device confirm", wantStatus: 200, formAction: "'self'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.DeviceCode(w, 0, ui.DevicePage{Tenant: evil, Action: "/t/evil/device", UserCode: "WDJB-MJHT", ClientName: hostile,
					Confirm: true, Hidden: hidden})
			},
			want: []string{`<strong>&#34;&gt;&lt;script&gt;`, `<p class="usercode">WDJB-MJHT</p>`, `name="decision" value="approve"`,
				`name="decision" value="deny"`, `<input type="hidden" name="user_code" value="WDJB-MJHT">`}},
		{name: "device approved", wantStatus: 200, formAction: "'none'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.DeviceDone(w, ui.DeviceDonePage{Tenant: acme, Approved: true})
			},
			want: []string{`<h1>Device connected</h1>`}},
		{name: "device denied", wantStatus: 200, formAction: "'none'",
			render: func(r *ui.Renderer, w http.ResponseWriter) { r.DeviceDone(w, ui.DeviceDonePage{Tenant: acme}) },
			want:   []string{`<h1>Request denied</h1>`}},
		{name: "error without tenant", wantStatus: 404, formAction: "'none'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Error(w, 404, ui.ErrorPage{Detail: "No such organization.", RequestID: "req-1" + hostile})
			},
			want: []string{`<title>Not Found – nines</title>`, `<p>No such organization.</p>`, `<code>req-1&#34;&gt;&lt;script&gt;`}},
		{name: "error of a hostile tenant", wantStatus: 503, formAction: "'none'",
			render: func(r *ui.Renderer, w http.ResponseWriter) {
				r.Error(w, 503, ui.ErrorPage{Tenant: &evil, Title: "Sign-in unavailable"})
			},
			want: []string{`<title>Sign-in unavailable – &#34;&gt;`}},
		{name: "error with a status WriteHeader would panic on", wantStatus: 500, formAction: "'none'",
			render: func(r *ui.Renderer, w http.ResponseWriter) { r.Error(w, 42, ui.ErrorPage{}) },
			want:   []string{`<h1>Internal Server Error</h1>`}},
	}
}

func TestPages(t *testing.T) {
	r := renderer(t)
	for _, p := range pages() {
		t.Run(p.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			p.render(r, w)
			res := w.Result()
			body := w.Body.String()
			if res.StatusCode != p.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, p.wantStatus)
			}
			wantHeaders := map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Cache-Control":           "no-store",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action " + p.formAction + "; frame-ancestors 'none'; base-uri 'none'",
			}
			for k, v := range wantHeaders {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, s := range append([]string{`<html lang="en">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`}, p.want...) {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %s", s)
				}
			}
			if strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, " style=") {
				t.Error("body holds a script or an inline style")
			}
			checkLabels(t, body)
			if strings.Contains(body, "role=\"alert\"") != strings.Contains(body, `class="alert"`) {
				t.Error("an alert without role=alert")
			}
		})
	}
}

// checkLabels finds every visible input and its <label for>.
func checkLabels(t *testing.T, body string) {
	t.Helper()
	for _, in := range inputRE.FindAllString(body, -1) {
		if strings.Contains(in, `type="hidden"`) {
			continue
		}
		m := idRE.FindStringSubmatch(in)
		if m == nil {
			t.Errorf("input without id: %s", in)
			continue
		}
		if !strings.Contains(body, fmt.Sprintf(`<label for="%s">`, m[1])) {
			t.Errorf("input %q has no <label for>", m[1])
		}
	}
}

func TestLoginErrorText(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantText   string
		wantStatus int
	}{
		{name: "none", err: nil, wantText: "", wantStatus: 200},
		{name: "invalid", err: authn.ErrInvalidCredentials, wantText: "Incorrect username or password.", wantStatus: 400},
		{name: "locked", err: &authn.LockedError{Until: time.Now()}, wantText: "Too many failed attempts. Try again later.", wantStatus: 429},
		{name: "busy", err: fmt.Errorf("x: %w", password.ErrBusy), wantText: "Sign-in is busy, please try again in a moment.", wantStatus: 503},
		{name: "kv down", err: fmt.Errorf("x: %w", kv.ErrUnavailable), wantText: "Sign-in is busy, please try again in a moment.", wantStatus: 503},
		{name: "cause never shown", err: errors.New("pq: password authentication failed for user nines"), wantText: "Sign-in is busy, please try again in a moment.", wantStatus: 503},
		{name: "tenant disabled", err: authn.ErrTenantDisabled, wantText: ui.TextUnavailable, wantStatus: 403},
		{name: "import source down", err: fmt.Errorf("x: %w: timeout", authn.ErrImportUnavailable),
			wantText: "We could not check your account right now. Try again in a few minutes.", wantStatus: 503},
		{name: "provisioning failed", err: fmt.Errorf("x: %w: admin API answered 503", authn.ErrProvisioningFailed),
			wantText: "Your account could not be set up right now. Try again in a few minutes.", wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, status := ui.LoginErrorFor(tt.err)
			if text != tt.wantText || status != tt.wantStatus {
				t.Errorf("LoginErrorFor = %q, %d; want %q, %d", text, status, tt.wantText, tt.wantStatus)
			}
		})
	}
}

func TestStylesheet(t *testing.T) {
	r := renderer(t)
	tests := []struct {
		name   string
		color  string
		want   string
		wantOn string
	}{
		{name: "tenant colour", color: "#0a7d33", want: "--primary: #0a7d33;", wantOn: "#ffffff"},
		{name: "light colour gets dark text", color: "#FFEB3B", want: "--primary: #FFEB3B;", wantOn: "#1f2328"},
		{name: "no colour", color: "", want: "--primary: " + ui.DefaultPrimaryColor + ";", wantOn: "#ffffff"},
		{name: "injection", color: "red;} body{display:none", want: "--primary: " + ui.DefaultPrimaryColor + ";", wantOn: "#ffffff"},
		{name: "short form", color: "#fff", want: "--primary: " + ui.DefaultPrimaryColor + ";", wantOn: "#ffffff"},
	}
	etags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			css, etag := r.Stylesheet(tenant.Tenant{Slug: "acme", PrimaryColor: tt.color})
			s := string(css)
			if !strings.Contains(s, tt.want) || !strings.Contains(s, "--on-primary: "+tt.wantOn+";") {
				t.Errorf("stylesheet starts %q; want %q and on-primary %s", s[:min(len(s), 120)], tt.want, tt.wantOn)
			}
			if strings.Contains(s, "display:none") {
				t.Error("an invalid colour reached the stylesheet")
			}
			if !strings.Contains(s, "button {") {
				t.Error("the base stylesheet is missing")
			}
			if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Errorf("etag %q is not a quoted strong ETag", etag)
			}
			if _, again := r.Stylesheet(tenant.Tenant{PrimaryColor: tt.color}); again != etag {
				t.Error("the ETag differs for the same bytes")
			}
			etags[tt.want+tt.wantOn] = etag
		})
	}
	if len(etags) != 3 {
		t.Errorf("%d distinct ETags for 3 distinct stylesheets", len(etags))
	}
}
