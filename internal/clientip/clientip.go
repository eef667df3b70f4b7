package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client addresses. The zero value trusts nobody: every request's
// client is its TCP peer. A Resolver is safe for concurrent use; do not modify Trusted
// after the first call.
type Resolver struct {
	// Trusted are the proxies whose X-Forwarded-For entries are believed (the edge, the
	// load balancers in front of nines). IPv4-mapped IPv6 addresses match as IPv4.
	Trusted []netip.Prefix
}

// ClientIP returns the client address of r: the host of r.RemoteAddr unless that peer is
// trusted, in which case the first untrusted address of X-Forwarded-For counted from the
// right (see the package doc). Addresses come back in netip's canonical form without
// zone (IPv4-mapped IPv6 as IPv4). A RemoteAddr that is not an address is returned as
// given, minus its port.
func (res Resolver) ClientIP(r *http.Request) string {
	peer, ok := parse(r.RemoteAddr)
	if !ok {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	if !res.trusted(peer) {
		return peer.String()
	}
	hop := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(values[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parse(strings.TrimSpace(entries[j]))
			if !ok {
				return hop.String() // cannot follow the chain past this entry
			}
			if !res.trusted(a) {
				return a.String()
			}
			hop = a
		}
	}
	return hop.String() // every hop was trusted: the request started inside
}

// Trusts reports whether addr (an address, or host:port) is inside a trusted prefix:
// for a ClientIP answer, that no client address was found behind the proxies.
func (res Resolver) Trusts(addr string) bool {
	a, ok := parse(addr)
	return ok && res.trusted(a)
}

func (res Resolver) trusted(a netip.Addr) bool {
	for _, p := range res.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parse reads an address, bare or with a port ("192.0.2.1:443", "[2001:db8::1]:443"),
// dropping the zone and unmapping IPv4-mapped IPv6.
func parse(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// ParsePrefixes reads a list of addresses and CIDR prefixes ("10.0.0.0/8",
// "192.0.2.7", "2001:db8::/32"); an address is a prefix of its full length. It returns
// one error per entry that is not valid, for config validation to report.
func ParsePrefixes(list []string) ([]netip.Prefix, []error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errs
}
