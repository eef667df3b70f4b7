package ui

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"

	"github.com/ninesid/nines/internal/tenant"
)

//go:embed templates/*.html
var templateFS embed.FS

// Form field names the pages post. The handler reading a form uses these.
const (
	FieldLogin    = "login"     // sign-in: username or e-mail address
	FieldPassword = "password"  // sign-in: the password
	FieldUserCode = "user_code" // device: the user code typed or confirmed
	FieldDecision = "decision"  // device confirmation: DecisionApprove or DecisionDeny
)

// Values of FieldDecision.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// LoginPage is the sign-in form.
type LoginPage struct {
	Tenant tenant.Tenant
	Action string            // the form's POST URL, on this origin
	Hidden map[string]string // hidden fields posted back, e.g. the authorization request ID
	Login  string            // prefilled name (login_hint); never a password
	Error  string            // a fixed text (see LoginErrorFor); never an error's cause
	// RedirectURI is the validated redirect URI the sign-in will end at, if it is known
	// when the form is shown. Its origin (its scheme, for a native app's private-use
	// scheme) is added to the CSP form-action: Chrome and Safari apply form-action to the
	// redirects that follow a form POST, so without it the final redirect to the client
	// would be blocked. Empty or unparseable: form-action is 'self' alone.
	RedirectURI   string
	StylesheetURL string // the tenant's stylesheet (Stylesheet), on this origin; empty: unstyled
}

// SignedOutPage confirms a sign-out.
type SignedOutPage struct {
	Tenant        tenant.Tenant
	StylesheetURL string
}

// DevicePage asks for a device flow's user code (Confirm false) or for approval of the
// request it names (Confirm true, with ClientName and UserCode shown and posted back
// with a FieldDecision).
type DevicePage struct {
	Tenant        tenant.Tenant
	Action        string
	UserCode      string
	ClientName    string
	Confirm       bool
	Error         string
	Hidden        map[string]string
	StylesheetURL string
}

// DeviceDonePage ends a device flow in the browser.
type DeviceDonePage struct {
	Tenant        tenant.Tenant
	Approved      bool
	StylesheetURL string
}

// ErrorPage explains a failure in fixed words. Tenant may be nil (unknown tenant).
type ErrorPage struct {
	Tenant        *tenant.Tenant
	Title         string // default: the status text
	Detail        string
	RequestID     string
	StylesheetURL string
}

// Renderer renders the pages from templates parsed once. It is safe for concurrent use.
type Renderer struct {
	tmpl *template.Template
}

// New parses the embedded templates.
func New() (*Renderer, error) {
	t, err := template.New("ui").Option("missingkey=error").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Renderer{tmpl: t}, nil
}

// view is what every template gets: the page's own fields under Page.
type view struct {
	Title      string
	TenantName string
	Stylesheet string
	Alert      string
	Page       any
}

// Login renders the sign-in form with status (0: 200).
func (r *Renderer) Login(w http.ResponseWriter, status int, p LoginPage) {
	r.render(w, status, policy(formAction(p.RedirectURI)), "login",
		view{Title: "Sign in", TenantName: tenantName(&p.Tenant), Stylesheet: p.StylesheetURL, Alert: p.Error, Page: p})
}

// SignedOut renders the signed-out confirmation (200).
func (r *Renderer) SignedOut(w http.ResponseWriter, p SignedOutPage) {
	r.render(w, http.StatusOK, policy("'none'"), "signedout",
		view{Title: "Signed out", TenantName: tenantName(&p.Tenant), Stylesheet: p.StylesheetURL, Page: p})
}

// DeviceCode renders the device flow's code entry or confirmation with status (0: 200).
func (r *Renderer) DeviceCode(w http.ResponseWriter, status int, p DevicePage) {
	title := "Connect a device"
	if p.Confirm {
		title = "Allow this device?"
	}
	r.render(w, status, policy("'self'"), "device",
		view{Title: title, TenantName: tenantName(&p.Tenant), Stylesheet: p.StylesheetURL, Alert: p.Error, Page: p})
}

// DeviceDone renders the end of a device flow (200).
func (r *Renderer) DeviceDone(w http.ResponseWriter, p DeviceDonePage) {
	title := "Device connected"
	if !p.Approved {
		title = "Request denied"
	}
	r.render(w, http.StatusOK, policy("'none'"), "devicedone",
		view{Title: title, TenantName: tenantName(&p.Tenant), Stylesheet: p.StylesheetURL, Page: p})
}

// Error renders an error page with status (0: 500).
func (r *Renderer) Error(w http.ResponseWriter, status int, p ErrorPage) {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	status = validStatus(status)
	title := p.Title
	if title == "" {
		title = http.StatusText(status)
	}
	r.render(w, status, policy("'none'"), "error",
		view{Title: title, TenantName: tenantName(p.Tenant), Stylesheet: p.StylesheetURL, Page: p})
}

// tenantName is what the pages call the tenant.
func tenantName(t *tenant.Tenant) string {
	switch {
	case t == nil:
		return "nines"
	case t.DisplayName != "":
		return t.DisplayName
	case t.Slug != "":
		return t.Slug
	}
	return "nines"
}

// validStatus keeps WriteHeader away from codes it panics on or that make no page.
func validStatus(status int) int {
	switch {
	case status == 0:
		return http.StatusOK
	case status < 200 || status > 599:
		return http.StatusInternalServerError
	}
	return status
}

// render executes the named template into a buffer, so that a failure can still become
// a clean 500, and writes it with the security headers.
func (r *Renderer) render(w http.ResponseWriter, status int, csp, name string, v view) {
	var buf bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		setHeaders(w.Header(), policy("'none'"))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(fallback))
		return
	}
	setHeaders(w.Header(), csp)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(validStatus(status))
	_, _ = w.Write(buf.Bytes())
}

// fallback is the page written when a template fails (a bug): nothing of the request.
const fallback = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Something went wrong</title></head>
<body><main><h1>Something went wrong</h1><p>Please try again.</p></main></body></html>
`

func setHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}
