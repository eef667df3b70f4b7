package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// call is one request on its way through a route: who made it, the store it reads and
// writes (see serve) and, for routes under /tenants/{tenant}, the tenant it addresses.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	route  route
	st     Store
	token  apitoken.Token
	tenant tenant.Tenant
}

func (a *API) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, route: rt, st: a.store}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v) // the server's own signal to abort the response: not ours to answer
				}
				a.writeProblem(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		if err := a.serve(c); err != nil {
			a.writeProblem(w, r, err)
		}
	})
}

// serve authenticates, authorises, refuses writes in read-only mode and resolves the
// tenant, then runs the route: every route goes through the same steps, so none can skip
// one. The mode is read once per request: in read-only mode every token is looked up on
// a replica (so that a write gets its 401, 403 or 503 read-only with the primary dead),
// a read runs wholly there, and a write is refused before it touches the primary.
func (a *API) serve(c *call) error {
	if c.route.Access == public {
		return c.route.Handle(a, c)
	}
	ro := a.readOnly.Status()
	authStore := c.st
	if ro.ReadOnly() {
		authStore = a.readStore()
		if c.route.Method == http.MethodGet {
			c.st = authStore
		}
	}
	tok, err := a.authenticate(c.r, authStore)
	if err != nil {
		return err
	}
	c.token = tok
	if !scopeAllows(tok.Scope, c.route) {
		a.denied(c, "route outside the token's scope "+string(tok.Scope))
		return forbidden()
	}
	if c.route.Access == global && !tok.Global() {
		a.denied(c, "tenant-scoped token on a global route")
		return forbidden()
	}
	if ro.ReadOnly() && c.route.Method != http.MethodGet && !offSwitch(c.route) {
		return readOnlyProblem(ro)
	}
	if strings.Contains(c.route.Path, "{tenant}") {
		if err := a.resolveTenant(c); err != nil {
			return err
		}
	}
	return c.route.Handle(a, c)
}

// provisionRoutes are the only routes a provision-scoped token may call: what the login
// tier's just-in-time provisioning needs (create a user, find one by name or ID). Within
// them the handlers narrow it further (provisionCreate, provisionList).
var provisionRoutes = map[string]bool{
	http.MethodPost + " " + usersPath:          true,
	http.MethodGet + " " + usersPath:           true,
	http.MethodGet + " " + usersPath + "/{id}": true,
}

// scopeAllows reports whether a token of scope may call rt. An unknown scope (a value
// written by a newer version) may call nothing.
func scopeAllows(scope apitoken.Scope, rt route) bool {
	switch scope {
	case apitoken.ScopeAdmin, "":
		return true
	case apitoken.ScopeProvision:
		return provisionRoutes[rt.Method+" "+rt.Path]
	}
	return false
}

// provisioning reports whether the call is made with a provision-scoped token.
func (c *call) provisioning() bool { return c.token.Scope == apitoken.ScopeProvision }

// provisionCreate refuses (403, like any call outside a token's scope) what a
// provision-scoped token may not do when it creates a user: just-in-time provisioning
// imports a user of a tenant with an import source (user_import), active, with an
// e-mail address the legacy store reported but nobody verified. A global provision
// token (the login tier's) must not be a way to plant a verified or disabled
// account in any tenant. in is nil before the body is read: then only the tenant is
// checked, so a refused call pays for no decoding. Admin-scoped tokens are not limited.
func (a *API) provisionCreate(c *call, in *userCreate) error {
	var reason string
	switch {
	case !c.provisioning():
		return nil
	case !c.tenant.UserImport.Enabled():
		reason = "provision-scoped token on a tenant without user_import"
	case in == nil:
		return nil
	case in.EmailVerified:
		reason = "provision-scoped token setting email_verified"
	case in.Status != "" && in.Status != user.StatusActive:
		reason = "provision-scoped token setting a status other than active"
	default:
		return nil
	}
	a.denied(c, reason)
	return forbidden()
}

// provisionList refuses (403) a provision-scoped token's list of a tenant's users
// without the username filter: the login tier looks up one name; it has no need to
// enumerate accounts.
func (a *API) provisionList(c *call, byName bool) error {
	if !c.provisioning() || byName {
		return nil
	}
	a.denied(c, "provision-scoped token listing users without the username filter")
	return forbidden()
}

var errUnauthorized = &problem{Type: typeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
	Detail: "a valid admin API token is required: Authorization: Bearer <token>"}

// authenticate finds the token presented as "Authorization: Bearer <token>" (RFC 6750
// §2.1). A missing, unknown or expired token is 401 with WWW-Authenticate.
func (a *API) authenticate(r *http.Request, st Store) (apitoken.Token, error) {
	fail := func(reason string, tok apitoken.Token) (apitoken.Token, error) {
		attrs := []any{"reason", reason, "method", r.Method, "path", r.URL.Path,
			"remote", r.RemoteAddr, "request_id", requestid.FromContext(r.Context())}
		if tok.ID != uuid.Nil {
			attrs = append(attrs, "token_id", tok.ID.String())
		}
		a.log.WarnContext(r.Context(), "admin auth failed", attrs...)
		return apitoken.Token{}, errUnauthorized
	}
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return fail("missing or malformed Authorization header", apitoken.Token{})
	}
	tok, err := st.APITokenByDigest(r.Context(), apitoken.Digest(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail("unknown token", apitoken.Token{})
	case err != nil:
		return apitoken.Token{}, err
	case tok.Expired(a.now()):
		return fail("expired token", tok)
	}
	return tok, nil
}

// resolveTenant loads the {tenant} of the path. A scoped token gets 403 for any tenant
// but its own, whether or not that tenant exists, so it cannot probe for slugs.
func (a *API) resolveTenant(c *call) error {
	slug := c.r.PathValue("tenant")
	t, err := tenant.Tenant{}, error(store.ErrNotFound) // a malformed slug names no tenant
	if tenant.ValidSlug(slug) {
		t, err = c.st.TenantBySlug(c.r.Context(), slug)
	}
	switch {
	case err != nil && !isNotFound(err):
		return err
	case !c.token.Global() && (err != nil || t.ID != c.token.TenantID):
		a.denied(c, "tenant-scoped token on another tenant")
		return forbidden()
	case err != nil:
		return notFound("tenant")
	}
	c.tenant = t
	return nil
}

func (a *API) denied(c *call, reason string) {
	a.log.WarnContext(c.r.Context(), "admin access denied", "reason", reason, "method", c.r.Method,
		"route", c.route.Path, "token_id", c.token.ID.String(), "request_id", requestid.FromContext(c.r.Context()))
}

// audit records one admin change (ARCHITECTURE §7). It never logs a body.
func (a *API) audit(c *call, entityID string) {
	a.log.InfoContext(c.r.Context(), "admin change", "method", c.r.Method, "route", c.route.Path,
		"tenant", c.tenant.Slug, "entity_id", entityID, "token_id", c.token.ID.String(),
		"request_id", requestid.FromContext(c.r.Context()))
}
