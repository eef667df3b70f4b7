package ui

import (
	"regexp"
	"testing"
)

var safeFormAction = regexp.MustCompile(`^'self'( [a-z][a-z0-9+.-]*:(//[a-z0-9.:\[\]-]+)?)?$`)

func FuzzFormAction(f *testing.F) {
	for _, s := range []string{"", "https://app.example/cb", "http://127.0.0.1:51004/cb", "com.example.app:/cb",
		"https://[::1]:8443/x", "https://a.example; script-src *", "javascript:alert(1)", "https://a.example,evil",
		"HTTPS://UPPER.example/", "https://user:pw@host.example/", "//no-scheme", "https://exa mple/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got := formAction(uri)
		if !safeFormAction.MatchString(got) {
			t.Errorf("formAction(%q) = %q: not a clean source list", uri, got)
		}
	})
}
