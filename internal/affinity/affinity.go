// Package affinity is the contract between the login tier and the edge that keeps a
// flow on the login process that holds its state.
//
// While NATS answers, any login process can serve any step of a flow: the short-lived
// state (authorization requests, codes, sessions, refresh families) is in the shared KV.
// When NATS is down, each login process keeps what it writes in its own memory (the KV
// fallback), so a flow finishes only where its state is. A login process started with an
// instance tag (NINES_INSTANCE_TAG) therefore prefixes the secrets it mints — an
// authorization request ID, a code, a refresh token, a device code, a session ID — with
// its tag and Sep; the edge, which knows each backend's tag from its routing table,
// reads the tag off a request's artifact (a form's code or refresh token, the login
// page's request ID, the session cookie) and sends the request to that backend while it
// is usable. The tag is a routing hint only: it grants nothing, and a forged or stale
// one costs at most the choice of backend.
package affinity

import "strings"

// Sep separates a tag from the secret it prefixes. The secrets are unpadded base64url,
// whose alphabet has no '.', so the first '.' always ends the tag.
const Sep = "."

// MaxTagLen bounds a tag.
const MaxTagLen = 32

// ValidTag reports whether tag is 1–MaxTagLen characters of [a-z0-9-], starting with a
// letter or digit.
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > MaxTagLen || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Prefix returns secret tagged with tag; an empty tag leaves it as it is.
func Prefix(tag, secret string) string {
	if tag == "" {
		return secret
	}
	return tag + Sep + secret
}

// TagOf returns the tag an artifact carries, or "" when it carries none (or a malformed
// one).
func TagOf(artifact string) string {
	tag, _, ok := strings.Cut(artifact, Sep)
	if !ok || !ValidTag(tag) {
		return ""
	}
	return tag
}
