package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login"
	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// KeyReader reads a tenant's signing keys (every algorithm, every rotation state) with
// the tenant's key generation they are of (*sqlstore.Reader): the generation read first,
// on the same database, so the keys are of it or a later one. A tenant that does not
// exist has no keys and generation 0.
type KeyReader interface {
	SigningKeySet(ctx context.Context, tenantID uuid.UUID) (ks []keys.Key, generation int64, err error)
}

// Authenticator checks a password sign-in (*authn.Authenticator): its errors are
// authn.ErrInvalidCredentials, *authn.LockedError, authn.ErrTenantDisabled,
// password.ErrBusy, or a failure of its stores.
type Authenticator interface {
	Authenticate(ctx context.Context, t tenant.Tenant, login, password, sourceIP string) (user.User, error)
}

// Sessions manages the browser's SSO session (internal/login/session).
type Sessions interface {
	// Start creates a session for userID and sets its cookie on w.
	Start(ctx context.Context, w http.ResponseWriter, t tenant.Tenant, userID uuid.UUID, amr []string) (session.Session, error)
	// Current returns the request's session in t, or session.ErrNoSession.
	Current(ctx context.Context, r *http.Request, t tenant.Tenant) (session.Session, error)
	// End deletes the request's session and its cookie; session.ErrNoSession when there
	// was none.
	End(ctx context.Context, w http.ResponseWriter, r *http.Request, t tenant.Tenant) (session.Session, error)
}

// Config configures a Provider. Zero durations take the defaults.
type Config struct {
	PublicURL string // scheme://host[:port][/prefix], without a trailing slash
	Tenants   login.TenantReader
	Users     login.UserReader
	Apps      login.ApplicationReader
	Keys      KeyReader
	KEK       []byte
	Buckets   kv.Buckets
	// Authn checks passwords. It is also the login tier's one writer of sign-in facts
	// (login.Recorder SignedIn and PasswordRehashed): this package writes nothing else.
	Authn Authenticator
	// NotFound reports whether a reader's error means "no such entity" (the store's
	// ErrNotFound); nil means an error whose text ends in "not found".
	NotFound func(error) bool
	Sessions Sessions
	UI       Pages // required: the hosted pages (internal/login/ui)
	// ClientIP returns the address of the client a request comes from: the source
	// address handed to Authn (throttling, lockout) and written to the logs. nil: the
	// host part of r.RemoteAddr (no proxy trusted). internal/app sets it to the trusted
	// proxy resolver; it must never read a forwarded header from an untrusted peer.
	ClientIP func(*http.Request) string
	Logger   *slog.Logger
	Now      func() time.Time
	// InstanceTag, when set (an affinity.ValidTag: NINES_INSTANCE_TAG), prefixes every
	// secret the Provider mints that a later request of the same flow carries (the
	// authorization request ID of the login page, codes, device codes, refresh tokens)
	// with the tag and affinity.Sep, so the edge routes that request to this process,
	// which holds the flow's state during a NATS outage. Empty: untagged secrets.
	// Secrets of any shape (tagged by any process, or untagged) are accepted.
	InstanceTag string

	AccessTokenLifetime  time.Duration // default 10m (RFC 9068 tokens cannot be recalled: keep short)
	IDTokenLifetime      time.Duration // default 1h
	CodeLifetime         time.Duration // default 60s (RFC 6749 §4.1.2: at most 10 minutes)
	RefreshTokenLifetime time.Duration // absolute lifetime of a refresh family; default 30 days
	AuthRequestLifetime  time.Duration // default 30m
	DeviceCodeLifetime   time.Duration // default 10m
	DevicePollInterval   time.Duration // default 5s (RFC 8628 §3.2)
	KeyCacheTTL          time.Duration // default 1m: how fast a rotation is picked up without a change notification (KeysChanged)
}

// Provider is the OpenID Provider of every tenant.
type Provider struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	ui   Pages
	keys *keyCache
	lib  http.Handler // zitadel op's router for the back-channel endpoints

	// userinfoUnchecked counts userinfo requests whose token was accepted while the
	// revocation check was unavailable (UserinfoUncheckedRevocations).
	userinfoUnchecked atomic.Uint64
}

// New checks cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	var missing []string
	for name, nilish := range map[string]bool{
		"Tenants": cfg.Tenants == nil, "Users": cfg.Users == nil, "Apps": cfg.Apps == nil,
		"Keys": cfg.Keys == nil, "Authn": cfg.Authn == nil, "Sessions": cfg.Sessions == nil, "UI": cfg.UI == nil, "Buckets.AuthRequests": cfg.Buckets.AuthRequests == nil,
		"Buckets.Codes": cfg.Buckets.Codes == nil, "Buckets.DeviceCodes": cfg.Buckets.DeviceCodes == nil,
		"Buckets.Refresh": cfg.Buckets.Refresh == nil,
	} {
		if nilish {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("oidc: config is missing %s", strings.Join(missing, ", "))
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oidc: PublicURL must be an absolute http(s) URL without query or fragment")
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if len(cfg.KEK) == 0 {
		return nil, errors.New("oidc: config is missing KEK")
	}
	if cfg.InstanceTag != "" && !affinity.ValidTag(cfg.InstanceTag) {
		return nil, fmt.Errorf("oidc: InstanceTag %q is not a valid affinity tag", cfg.InstanceTag)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.AccessTokenLifetime, 10*time.Minute)
	def(&cfg.IDTokenLifetime, time.Hour)
	def(&cfg.CodeLifetime, time.Minute)
	def(&cfg.RefreshTokenLifetime, 30*24*time.Hour)
	def(&cfg.AuthRequestLifetime, 30*time.Minute)
	def(&cfg.DeviceCodeLifetime, 10*time.Minute)
	def(&cfg.DevicePollInterval, 5*time.Second)
	def(&cfg.KeyCacheTTL, time.Minute)
	if cfg.CodeLifetime > 10*time.Minute {
		return nil, errors.New("oidc: CodeLifetime must be at most 10 minutes (RFC 6749 §4.1.2)")
	}
	p := &Provider{cfg: cfg, log: cfg.Logger, now: cfg.Now, ui: cfg.UI}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.cfg.ClientIP == nil {
		p.cfg.ClientIP = peerIP
	}
	p.keys = newKeyCache(cfg.Keys, cfg.KEK, cfg.KeyCacheTTL, p.now)
	p.keys.log = p.log
	p.lib = op.RegisterServer(&server{p: p}, op.Endpoints{
		Token:               op.NewEndpoint("/t/{tenant}/token"),
		Introspection:       op.NewEndpoint("/t/{tenant}/introspect"),
		Revocation:          op.NewEndpoint("/t/{tenant}/revoke"),
		DeviceAuthorization: op.NewEndpoint("/t/{tenant}/device_authorization"),
	}, op.WithServerCORSOptions(nil))
	return p, nil
}

// UserinfoUncheckedRevocations is the number of userinfo requests since the Provider
// was made whose access token was accepted without a revocation check, because the KV
// was unavailable (a NATS outage). The token's signature and expiry were verified; see
// verifyAccess for the trade-off. internal/app exports it as
// nines_oidc_userinfo_unchecked_revocations_total.
func (p *Provider) UserinfoUncheckedRevocations() uint64 { return p.userinfoUnchecked.Load() }

// Endpoint paths, relative to a tenant's issuer.
const (
	pathDiscovery  = "/.well-known/openid-configuration"
	pathKeys       = "/keys"
	pathAuthorize  = "/authorize"
	pathLogin      = "/login"
	pathToken      = "/token"
	pathUserinfo   = "/userinfo"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathEndSession = "/end_session"
	pathDeviceAuth = "/device_authorization"
	pathDevice     = "/device"
	pathStylesheet = "/login.css"
)

// Mount registers every endpoint of every tenant under /t/{tenant}/ on mux. The token,
// introspection, revocation and device authorization endpoints are POST-only (RFC 6749
// §3.2, RFC 7662 §2.1, RFC 7009 §2.1, RFC 8628 §3.1); browser forms of this origin are
// wrapped in http.CrossOriginProtection.
func (p *Provider) Mount(mux *http.ServeMux) {
	csrf := http.NewCrossOriginProtection()
	api := func(method, path string, h http.Handler) {
		mux.Handle(method+" /t/{tenant}"+path, p.protocol(h))
	}
	page := func(method, path string, h http.HandlerFunc) {
		mux.Handle(method+" /t/{tenant}"+path, p.browser(h))
	}
	api("GET", pathDiscovery, http.HandlerFunc(p.discovery))
	api("GET", pathKeys, http.HandlerFunc(p.jwks))
	lib := p.library(p.lib)
	api("POST", pathToken, lib)
	api("POST", pathIntrospect, lib)
	api("POST", pathRevoke, lib)
	api("POST", pathDeviceAuth, lib)
	api("GET", pathUserinfo, http.HandlerFunc(p.userinfo))
	api("POST", pathUserinfo, http.HandlerFunc(p.userinfo))
	// The authorization endpoint accepts GET and POST (OIDC Core §3.1.2.1). A POST here
	// is a cross-site form by design (the RP's page), so it is not CSRF-checked; it
	// changes no state beyond creating a pending request.
	page("GET", pathAuthorize, p.authorize)
	page("POST", pathAuthorize, p.authorize)
	page("GET", pathLogin, p.loginPage)
	mux.Handle("POST /t/{tenant}"+pathLogin, csrf.Handler(p.browser(p.loginSubmit)))
	// RP-initiated logout, GET and POST, is cross-site by design (the RP sends the
	// browser, RP-Initiated Logout 1.0 §2), so it is not CSRF-checked; it ends a session
	// only for a matching id_token_hint, and otherwise asks the user, whose answer goes
	// to the same-origin confirmation route (logout.go).
	page("GET", pathEndSession, p.endSession)
	page("POST", pathEndSession, p.endSession)
	mux.Handle("POST /t/{tenant}"+pathEndSessionOK, csrf.Handler(p.browser(p.endSessionConfirm)))
	page("GET", pathDevice, p.devicePage)
	mux.Handle("POST /t/{tenant}"+pathDevice, csrf.Handler(p.browser(p.deviceSubmit)))
	page("GET", pathStylesheet, p.stylesheet)
}

type tenantKey struct{}

// tenantCtx is the request's tenant and issuer.
type tenantCtx struct {
	T      tenant.Tenant
	Issuer string
}

func tenantFrom(ctx context.Context) tenantCtx {
	tc, _ := ctx.Value(tenantKey{}).(tenantCtx)
	return tc
}

// Issuer returns the issuer identifier of the tenant with slug (OIDC Discovery §3).
func (p *Provider) Issuer(slug string) string { return p.cfg.PublicURL + "/t/" + slug }

func (p *Provider) endpoint(tc tenantCtx, path string) string { return tc.Issuer + path }

// resolve finds the tenant named by the path. Unknown and disabled tenants are errors;
// discovery and JWKS of a disabled tenant still answer (tokens it signed stay verifiable
// offline), everything else refuses.
func (p *Provider) resolve(r *http.Request, allowDisabled bool) (tenantCtx, error) {
	slug := r.PathValue("tenant")
	if slug == "" || len(slug) > 63 {
		return tenantCtx{}, NotFound("empty or long tenant slug")
	}
	t, err := p.cfg.Tenants.TenantBySlug(r.Context(), slug)
	if err != nil {
		if p.notFound(err) {
			return tenantCtx{}, NotFound("unknown tenant")
		}
		return tenantCtx{}, classifyRead(err)
	}
	if t.Status != tenant.StatusActive && !allowDisabled {
		e := AccessDenied("tenant %s is disabled", t.ID)
		e.status = http.StatusForbidden
		return tenantCtx{}, e
	}
	return tenantCtx{T: t, Issuer: p.Issuer(t.Slug)}, nil
}

// protocol wraps a JSON endpoint: tenant resolution (404 JSON when unknown), no caching
// (RFC 6749 §5.1), and the request ID.
func (p *Provider) protocol(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withRequestID(w, r)
		path := r.URL.Path
		allowDisabled := strings.HasSuffix(path, pathDiscovery) || strings.HasSuffix(path, pathKeys)
		tc, err := p.resolve(r, allowDisabled)
		if err != nil {
			p.writeJSONError(w, r, err)
			return
		}
		if !allowDisabled {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, tc)))
	})
}

// browser wraps a page: tenant resolution (the error page when unknown or disabled),
// no caching, framing denied.
func (p *Provider) browser(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withRequestID(w, r)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'; script-src 'unsafe-inline'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		tc, err := p.resolve(r, false)
		if err != nil {
			p.errorPage(w, r, nil, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, tc)))
	})
}

// withRequestID makes sure the request carries an ID even when Mount's mux is not
// behind requestid.Middleware (tests, benchmarks).
func withRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	if requestid.FromContext(r.Context()) != "" {
		return r
	}
	id := requestid.New()
	w.Header().Set(requestid.Header, id)
	return r.WithContext(requestid.WithID(r.Context(), id))
}

// writeJSONError is the boundary for endpoints this package routes itself.
func (p *Provider) writeJSONError(w http.ResponseWriter, r *http.Request, err error) {
	p.logError(r.Context(), err)
	e := classify(err)
	status, _ := e.Describe()
	writeErrorCode(w, e.Code, status)
}

// writeErrorCode writes the JSON error response of code (RFC 6749 §5.2) with its status,
// fixed description and the headers the code calls for.
func writeErrorCode(w http.ResponseWriter, code string, status int) {
	_, desc := Describe(code)
	switch code {
	case CodeInvalidToken, CodeInsufficientScope:
		// RFC 6750 §3: a protected resource answers with WWW-Authenticate.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error=%q, error_description=%q`, code, desc))
	case CodeInvalidClient:
		// RFC 6749 §5.2: 401 with the scheme the client should use.
		w.Header().Set("WWW-Authenticate", `Basic realm="nines"`)
	case CodeTemporarilyUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// notFound reports whether a reader's error means "no such entity".
func (p *Provider) notFound(err error) bool {
	if p.cfg.NotFound != nil {
		return p.cfg.NotFound(err)
	}
	return strings.HasSuffix(err.Error(), "not found")
}

// classifyRead turns a reader failure (replica down, timeout) into
// temporarily_unavailable: a missing entity is handled by the caller.
func classifyRead(err error) *Error { return wrapError(CodeTemporarilyUnavailable, err) }
