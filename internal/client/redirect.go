package client

import (
	"net"
	"net/url"
	"strings"
)

// ValidateRedirectURI checks one registered redirect URI and returns a reason when it is
// unacceptable, or "" when it is fine. Rules (RFC 6749 §3.1.2, RFC 8252 §7, OAuth 2.0
// Security BCP RFC 9700 §4.1):
//   - absolute, at most 2000 bytes, no fragment, no user information, no wildcard;
//   - https for any host; http only for loopback hosts (localhost, 127.0.0.1, [::1]);
//   - a private-use scheme with a dot (com.example.app:/cb) only for public (native) clients.
//
// Matching at authorization time is exact string comparison; nothing here normalises.
func ValidateRedirectURI(raw string, t Type) string {
	if raw == "" {
		return "is empty"
	}
	if len(raw) > 2000 {
		return "is longer than 2000 bytes"
	}
	if strings.ContainsAny(raw, " \t\r\n\\") {
		return "contains white space or a backslash"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URI"
	}
	if !u.IsAbs() {
		return "must be an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	if strings.Contains(raw, "*") {
		return "must not contain a wildcard"
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return "must have a host"
		}
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "http is allowed only for localhost, 127.0.0.1 or [::1]; use https"
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return "scheme must be https, loopback http, or a private-use scheme such as com.example.app"
		}
		if t != Public {
			return "private-use schemes are for public (native) clients only"
		}
	}
	return ""
}

// IsLoopbackHost reports whether host names the local machine.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
