// Package clientip finds the address of the client behind a request: the TCP peer, or,
// when the peer is a proxy the operator trusts, the address that proxy chain reports in
// X-Forwarded-For.
//
// The rule is the one that cannot be spoofed: a header is believed only as far as it was
// written by trusted proxies. Walking X-Forwarded-For from the right (the entry the
// nearest proxy appended), trusted addresses are skipped and the first untrusted one is
// the client. An entry that does not parse stops the walk: nothing to its left can be
// attributed to a trusted hop, so the answer is the last trusted hop itself (the caller
// can tell, with Trusts, that it has no client address). A peer that is not trusted is
// the answer whatever the headers say.
//
// Only X-Forwarded-For is read (the edge overwrites it, ARCHITECTURE.md §5); Forwarded
// (RFC 7239) and X-Real-IP are ignored. This package must never trust a header from a
// peer outside Trusted, and never log.
package clientip
