package edge

import (
	"net"
	"net/http"
	"strings"

	"github.com/ninesid/nines/internal/edge/table"
	"github.com/ninesid/nines/internal/tenant"
)

// tier is where a request goes: the login clusters or the admin tier.
type tier int

const (
	tierLogin tier = iota + 1
	tierAdmin
)

func (t tier) String() string {
	if t == tierAdmin {
		return "admin"
	}
	return "login"
}

// routeReq is what the edge decided about a request before picking a backend.
type routeReq struct {
	tier       tier
	tenant     string // "" for admin calls that name no tenant
	shard      *shard
	channel    string
	service    string
	path       string // the outbound path (a custom host's bare paths get /t/{tenant})
	rawPath    string
	limits     table.Limits
	idempotent bool
	body       []byte // the buffered request body, replayed on a retry
	replayable bool   // body is the whole body (or there is none)
	// retryKey is the retrykey.Header value sent on every attempt of a login-tier
	// request that is not idempotent and whose body is buffered, the same on a retry;
	// "" for every other request (see ServeHTTP).
	retryKey string
	// pinRegion, once a keyed request has reached a backend, is that backend's region:
	// the retry stays there, where the replay bucket (regional) holds the first
	// attempt's record — in another region the request would run again (a code
	// redeemed twice, a refresh token seen as reused).
	pinRegion string
	// tag is the instance tag of the login process that minted the request's artifact
	// (see requestTag), "" when it carries none; tagged lists the backends of the
	// routing with that tag, one per pool listing the process (none for a tag no
	// backend has). A first attempt goes to one of them while it is usable (see
	// affine).
	tag    string
	tagged []instance
}

// oidcPaths are the protocol API endpoints under /t/{tenant} (the oidc service).
var oidcPaths = map[string]bool{"/keys": true, "/token": true, "/userinfo": true, "/introspect": true, "/revoke": true}

// classify routes r by tier and tenant (ARCHITECTURE.md §5):
//
//   - /admin, /admin/… and /scim/… → the admin tier (the tenant of /admin/v1/tenants/{t}/…);
//   - /t/{tenant}/scim/… → the admin tier;
//   - /t/{tenant} and /t/{tenant}/… → the login tier, service by path (saml, device, oidc);
//   - on a custom host name (table hosts), every other path → the login tier of its
//     tenant, prefixed with /t/{tenant}; /t/{other}/… is not served there;
//   - anything else: false (404 at the edge).
func (rt *routing) classify(r *http.Request) (*routeReq, bool) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
		return nil, false
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	hostTenant := rt.tbl.Hosts[host]
	rq := &routeReq{path: p, rawPath: r.URL.RawPath}
	seg := strings.SplitN(p[1:], "/", 4)
	switch {
	case seg[0] == "admin":
		rq.tier = tierAdmin
		if len(seg) >= 4 && seg[1] == "v1" && seg[2] == "tenants" {
			rq.tenant, _, _ = strings.Cut(seg[3], "/")
			if !tenant.ValidSlug(rq.tenant) {
				rq.tenant = "" // the admin API answers for an invalid slug itself
			}
		}
	case seg[0] == "scim" && len(seg) > 1:
		rq.tier = tierAdmin
		rq.tenant = hostTenant
	case seg[0] == "t" && len(seg) >= 2:
		slug := seg[1]
		if !tenant.ValidSlug(slug) || (hostTenant != "" && slug != hostTenant) {
			return nil, false
		}
		rq.tenant = slug
		rest := ""
		if len(seg) > 2 {
			rest = "/" + strings.Join(seg[2:], "/")
		}
		if rest == "/scim" || strings.HasPrefix(rest, "/scim/") {
			rq.tier = tierAdmin
		} else {
			rq.tier, rq.service = tierLogin, serviceOf(rest)
		}
	case hostTenant != "":
		rq.tier, rq.tenant, rq.service = tierLogin, hostTenant, serviceOf(p)
		rq.path = "/t/" + hostTenant + p
		if rq.rawPath != "" {
			rq.rawPath = "/t/" + hostTenant + rq.rawPath
		}
	default:
		return nil, false
	}
	shardName := rt.tbl.Tenants.DefaultShard
	if s, ok := rt.tbl.Tenants.Shards[rq.tenant]; ok && rq.tenant != "" {
		shardName = s
	}
	rq.shard = rt.shards[shardName]
	rq.channel = rt.tbl.Tenants.DefaultChannel
	if c, ok := rt.tbl.Tenants.Channels[rq.tenant]; ok && rq.tenant != "" {
		rq.channel = c
	}
	rq.limits = rt.tbl.Routes.Login
	if rq.tier == tierAdmin {
		rq.limits = rt.tbl.Routes.Admin
	}
	rq.idempotent = idempotent(r)
	return rq, rq.shard != nil
}

// serviceOf is the login service of a path below /t/{tenant}.
func serviceOf(rest string) string {
	switch {
	case rest == "/saml" || strings.HasPrefix(rest, "/saml/"):
		return table.ServiceSAML
	case rest == "/device" || rest == "/device_authorization" || strings.HasPrefix(rest, "/device/"):
		return table.ServiceDevice
	case strings.HasPrefix(rest, "/.well-known/") || oidcPaths[rest]:
		return table.ServiceOIDC
	}
	return table.ServiceDefault
}

// idempotent reports whether r may be sent twice: its method is idempotent (RFC 9110
// §9.2.2). An Idempotency-Key header changes nothing: no backend deduplicates on it, so
// repeating a POST that reached one (a code redemption, a key rotation) would run it
// twice. A non-idempotent request is retried after it reached a backend only when the
// edge gave it a retry key (a login-tier request, see retrykey): the login tier answers
// a repeat with the same key from its record of the first answer. Any other is retried
// only when nothing was sent.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
