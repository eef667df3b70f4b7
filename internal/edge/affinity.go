package edge

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ninesid/nines/internal/affinity"
)

// Instance affinity (internal/affinity): a login process started with an instance tag
// prefixes the secrets it mints with "<tag>.", and the routing table names each login
// backend's tag (table.Backend.Instance). The edge reads the tag off a login request's
// artifact (requestTag) and sends the first attempt to the backend with that tag while
// it is usable (affine), so that a flow completes on the process that holds its state
// even while the shared store (NATS) is down and every process keeps its own. A retry
// ignores the tag. The tag is a routing hint only: a forged or stale one costs at most
// the choice of backend.

// formFields are the form fields that carry an artifact, in the order in which they are
// tried: an authorization code, a refresh token, a device code (token requests), the
// authorization request ID (the login form posts it as id).
var formFields = [...]string{"code", "refresh_token", "device_code", "id"}

// maxFormPairs is the most pairs a form or query may have, as net/url's ParseQuery
// allows by default: a backend parsing a longer one gets an error (a form) or nothing
// (a query), so the edge reads no tag off it either.
const maxFormPairs = 10000

// maxCookies is the most cookies a request may carry, as net/http reads by default: a
// backend reads none from a request with more, so the edge reads no tag off them either.
const maxCookies = 3000

// Session cookie names (internal/login/session.CookieName): "__Host-nines-<tenant>"
// on https, "nines-<tenant>" on plain http.
const (
	cookieHostPrefix = "__Host-nines-"
	cookiePrefix     = "nines-"
)

// tagRequest sets rq's instance tag from r (requestTag) and the backends of rt with it.
// Only a login-tier request has one: the admin tier keeps no flow state.
func (rt *routing) tagRequest(rq *routeReq, r *http.Request) {
	if rq.tier != tierLogin {
		return
	}
	if rq.tag = requestTag(r, rq); rq.tag != "" {
		rq.tagged = rt.instances[rq.tag]
	}
}

// requestTag returns the instance tag carried by r, a login-tier request classified as
// rq whose body, when buffered, is rq.body; "" when it carries none. The first artifact
// with a tag wins, in this order:
//
//   - a POST with Content-Type application/x-www-form-urlencoded and a buffered body:
//     the form fields code, refresh_token, device_code and id (the first value of
//     each, as url.Values.Get reads it); a malformed form (one url.ParseQuery refuses)
//     carries none;
//   - the query parameter id (the login page);
//   - the tenant's session cookie, __Host-nines-<tenant> then nines-<tenant>.
//
// It reads only what the edge holds already (the buffered body, at most
// retryBodyMax bytes; the URL and the headers, bounded by the server's header limit),
// in one pass over each, and allocates only the tag it returns (and a value that is
// percent-encoded, to decode it).
func requestTag(r *http.Request, rq *routeReq) string {
	if r.Method == http.MethodPost && rq.replayable && len(rq.body) > 0 && isForm(r.Header.Get("Content-Type")) {
		var vals [len(formFields)][]byte
		if scanForm(rq.body, vals[:], true) {
			for _, v := range vals {
				if tag := tagOf(v); tag != "" {
					return tag
				}
			}
		}
	}
	if q := r.URL.RawQuery; q != "" {
		var vals [1]string
		scanForm(q, vals[:], false, "id")
		if tag := tagOf(vals[0]); tag != "" {
			return tag
		}
	}
	if rq.tenant != "" {
		return cookieTag(r.Header["Cookie"], rq.tenant)
	}
	return ""
}

// isForm reports whether the Content-Type ct is application/x-www-form-urlencoded
// (parameters such as a charset aside).
func isForm(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(textproto.TrimString(mt), "application/x-www-form-urlencoded")
}

// scanForm reads the first raw (still encoded) value of each field of a form body or
// URL query s into vals: vals[i] for fields[i] (formFields when fields is empty), nil
// or "" when absent. It splits s as url.ParseQuery does: pairs separated by '&', a pair
// with a ';' invalid, the key and value percent-decoded. strict is a form's rule: any
// invalid pair makes the whole form malformed, and scanForm reports false (vals are
// then meaningless); otherwise (a query, read as url.Values ignoring the error) an
// invalid pair is skipped.
func scanForm[S ~string | ~[]byte](s S, vals []S, strict bool, fields ...string) bool {
	if len(fields) == 0 {
		fields = formFields[:]
	}
	if count(s, '&')+1 > maxFormPairs {
		return false
	}
	var found [len(formFields)]bool
	for len(s) > 0 {
		var pair S
		if i := index(s, '&'); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			pair, s = s, s[len(s):]
		}
		if len(pair) == 0 {
			continue
		}
		key, val := pair, pair[len(pair):]
		if i := index(pair, '='); i >= 0 {
			key, val = pair[:i], pair[i+1:]
		}
		if index(pair, ';') >= 0 || !validEscapes(key) || !validEscapes(val) {
			if strict {
				return false
			}
			continue
		}
		for f, name := range fields {
			if !found[f] && keyIs(key, name) {
				found[f], vals[f] = true, val
			}
		}
	}
	return true
}

// keyIs reports whether the raw form key k decodes to name.
func keyIs[S ~string | ~[]byte](k S, name string) bool {
	if index(k, '%') < 0 && index(k, '+') < 0 {
		if len(k) != len(name) {
			return false
		}
		for i := range len(k) {
			if k[i] != name[i] {
				return false
			}
		}
		return true
	}
	d, err := url.QueryUnescape(string(k))
	return err == nil && d == name
}

// tagOf returns the instance tag of a raw (still encoded) form value, or "". Only the
// part up to the first affinity.Sep is decoded and copied: the tag is a short prefix
// of a long secret.
func tagOf[S ~string | ~[]byte](v S) string {
	end := -1
	for i := range len(v) {
		if v[i] == affinity.Sep[0] {
			end = i
			break
		}
		if v[i] == '%' { // an encoded prefix: decode it (the escapes were checked)
			d, _ := url.QueryUnescape(string(v))
			return affinity.TagOf(d)
		}
		if i >= affinity.MaxTagLen {
			return "" // too long to be a tag
		}
	}
	if end < 0 {
		return ""
	}
	// The bytes before the separator hold no '%'; a '+' (a space) fails ValidTag.
	return affinity.TagOf(string(v[:end+1]))
}

// validEscapes reports whether every '%' of s starts a valid escape (two hex digits):
// what url.QueryUnescape checks.
func validEscapes[S ~string | ~[]byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// index is the index of the first c in s, or -1.
func index[S ~string | ~[]byte](s S, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// count is how many times c occurs in s.
func count[S ~string | ~[]byte](s S, c byte) int {
	n := 0
	for i := range len(s) {
		if s[i] == c {
			n++
		}
	}
	return n
}

// cookieTag returns the instance tag of tenant's session cookie in the Cookie header
// lines, "" when there is none or it carries none: __Host-nines-<tenant> first, then
// nines-<tenant>. The lines are split as net/http reads cookies (';'-separated
// name=value pairs, a value's double quotes removed).
func cookieTag(lines []string, tenant string) string {
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxCookies {
		return ""
	}
	var host, plain string
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, val, ok := strings.Cut(textproto.TrimString(part), "=")
			if !ok {
				continue
			}
			name = textproto.TrimString(name)
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			switch {
			case host == "" && strings.HasPrefix(name, cookieHostPrefix) && name[len(cookieHostPrefix):] == tenant:
				host = val
			case plain == "" && strings.HasPrefix(name, cookiePrefix) && name[len(cookiePrefix):] == tenant:
				plain = val
			}
		}
	}
	if tag := affinity.TagOf(host); tag != "" {
		return tag
	}
	return affinity.TagOf(plain)
}

// affine returns the backend with rq's instance tag that serves rq's first attempt, if
// any: a listing of the tagged process in the pool that serves rq's service in its
// cluster, in a region of order (the shard's regions as this request tries them: never
// another shard's, nor a region failed over), in a cluster that serves the tenant's
// release channel and is neither drained nor ejected (for the service), in a zone
// that is not drained, and the backend itself usable (healthy and not ejected). A
// recent failure of the backend does not matter (see levelClean): only that process
// can complete the flow.
func affine(rq *routeReq, order []*region, st *opState, now time.Time) (target, bool) {
	for _, in := range rq.tagged {
		t := in.t
		if t.c.pool(rq.service) != t.p || !slices.Contains(order, in.r) || !t.c.serves(rq.channel) ||
			st.clusterDrained(t.c.region, t.c.name) || st.zoneDrained(t.b.region, t.b.zone) || t.p.poolOut(now) ||
			!t.b.usable() {
			continue
		}
		return t, true
	}
	return target{}, false
}

// Outcomes of instance affinity, the label of nines_edge_affinity_total.
const (
	affinityHit      = "hit"      // the first attempt went to the tagged backend
	affinityUnusable = "unusable" // a backend has the tag but could not take the request: picked as usual
	affinityUnknown  = "unknown"  // no backend has the tag: picked as usual
)

// affinityOutcome is what instance affinity did for the first attempt of rq, which
// went to t (t.b nil: nowhere); "" when rq carries no tag.
func affinityOutcome(rq *routeReq, t target) string {
	switch {
	case rq.tag == "":
		return ""
	case len(rq.tagged) == 0:
		return affinityUnknown
	}
	for _, in := range rq.tagged {
		if t.b != nil && in.t.b == t.b {
			return affinityHit
		}
	}
	return affinityUnusable
}
