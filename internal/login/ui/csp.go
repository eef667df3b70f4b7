package ui

import (
	"net/url"
	"regexp"
	"strings"
)

// policy is the Content-Security-Policy of a page whose forms may post (and be
// redirected) to formAction: no script, no plugins, no framing, styles and nothing else
// from this origin.
func policy(formAction string) string {
	return "default-src 'none'; style-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

var (
	schemePattern = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	hostPattern   = regexp.MustCompile(`^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
)

// formAction is the form-action source list of a sign-in form whose POST ends in a
// redirect to redirectURI: 'self' plus the URI's origin, or its scheme alone for a
// private-use scheme (RFC 8252 §7.1). Anything that does not parse into a clean source
// expression is left out, so nothing from the URI can inject into the header.
func formAction(redirectURI string) string {
	src := "'self'"
	if redirectURI == "" {
		return src
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return src
	}
	scheme := strings.ToLower(u.Scheme)
	if !schemePattern.MatchString(scheme) {
		return src
	}
	switch scheme {
	case "http", "https":
		if !hostPattern.MatchString(u.Host) {
			return src
		}
		return src + " " + scheme + "://" + strings.ToLower(u.Host)
	case "javascript", "data", "blob", "filesystem", "vbscript":
		return src
	}
	return src + " " + scheme + ":"
}
