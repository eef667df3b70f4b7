// Package tenant holds the tenant entity and its pure rules. A tenant is the unit of
// isolation: every other entity belongs to exactly one tenant, and every store method
// takes the tenant explicitly.
//
// This package must never import a store, an HTTP package or anything with side effects.
package tenant

import (
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
)

// Status is the lifecycle state of a tenant. A disabled tenant keeps its data but its
// users cannot sign in.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusDisabled }

// Tenant is one isolated customer of the identity provider.
type Tenant struct {
	ID          uuid.UUID
	Slug        string // URL-safe, unique, immutable; the issuer path is /t/{slug}
	DisplayName string
	Status      Status
	// PrimaryColor brands the hosted login pages ("#RRGGBB"; "" = the default).
	PrimaryColor string
	// Lockout is the policy against password guessing for this tenant's accounts.
	Lockout LockoutPolicy
	// UserImport is the tenant's just-in-time import source: a legacy password-check
	// endpoint asked on a sign-in whose name matches no user. The zero value: none.
	UserImport UserImport
	// KeyGeneration counts the rotations of the tenant's signing keys: 0 for a new
	// tenant, incremented by every rotation. It is not client-settable and does not
	// change Version.
	KeyGeneration int64
	Version       int64 // optimistic-concurrency counter, incremented by every update
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// LockoutPolicy locks an account for Duration after Threshold consecutive failed
// sign-ins (counted per account, whatever the source address).
type LockoutPolicy struct {
	Threshold int
	Duration  time.Duration
}

// UserImport is a legacy user store that vouches for passwords of users who do not
// exist in nines yet ("import on first login", lazy migration). The login tier POSTs the
// typed name and password to URL; when the store accepts them, the user is created
// through the admin API and signed in.
type UserImport struct {
	URL string // absolute https URL (http only on a loopback host); "" = no import
}

// Enabled reports whether an import source is configured.
func (u UserImport) Enabled() bool { return u.URL != "" }

// MaxImportURLLen bounds UserImport.URL.
const MaxImportURLLen = 2048

// ValidImportURL reports why s cannot be an import source URL ("" when it can): an
// absolute URL with a host, https, or http on a loopback host (localhost, 127.0.0.0/8,
// ::1) for tests and local set-ups, without user information or a fragment, at most
// MaxImportURLLen bytes. The password travels in the request body, so plain http
// anywhere else is refused.
func ValidImportURL(s string) string {
	if len(s) > MaxImportURLLen || !field.Line(s) || strings.ContainsAny(s, " \t") {
		return "must be a URL of at most 2048 bytes without spaces or control characters"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return "must be an absolute https:// URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "must be an https:// URL (http:// only on localhost, 127.0.0.1 or [::1])"
	case u.Hostname() == "":
		return "has no host"
	case u.User != nil || strings.Contains(u.Host, "@"):
		return "must not contain user information (put credentials in the endpoint, not the URL)"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment"
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "must be https:// (plain http:// is allowed only on localhost, 127.0.0.1 or [::1]): the password is sent to it"
	}
	return ""
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// DefaultLockout is the policy of a tenant that sets none.
var DefaultLockout = LockoutPolicy{Threshold: 10, Duration: 15 * time.Minute}

// ApplyDefaults fills unset fields with their defaults.
func (t *Tenant) ApplyDefaults() {
	if t.Status == "" {
		t.Status = StatusActive
	}
	if t.Lockout.Threshold == 0 {
		t.Lockout.Threshold = DefaultLockout.Threshold
	}
	if t.Lockout.Duration == 0 {
		t.Lockout.Duration = DefaultLockout.Duration
	}
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidSlug reports whether s has the form of a slug (it may still be reserved).
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// reserved slugs would collide with paths the edge or the admin tier own.
var reserved = map[string]bool{"admin": true, "api": true, "static": true, "assets": true,
	"healthz": true, "readyz": true, "metrics": true, "well-known": true}

// Validate reports every problem with t's client-settable fields.
func (t Tenant) Validate() field.Errors {
	var es field.Errors
	switch {
	case t.Slug == "":
		es.Add("slug", "is required")
	case !slugPattern.MatchString(t.Slug):
		es.Add("slug", "must be 1-63 lowercase letters, digits or inner hyphens")
	case reserved[t.Slug]:
		es.Add("slug", "is reserved")
	}
	switch {
	case strings.TrimSpace(t.DisplayName) == "":
		es.Add("display_name", "is required")
	case len(t.DisplayName) > 200 || !field.Line(t.DisplayName):
		es.Add("display_name", "must be valid UTF-8 of at most 200 bytes, without control characters")
	}
	if !t.Status.Valid() {
		es.Add("status", `must be "active" or "disabled"`)
	}
	if t.PrimaryColor != "" && !colorPattern.MatchString(t.PrimaryColor) {
		es.Add("primary_color", `must be a colour like "#1a73e8"`)
	}
	if t.Lockout.Threshold < 1 || t.Lockout.Threshold > 1000 {
		es.Add("lockout_threshold", "must be between 1 and 1000 failed attempts")
	}
	if t.UserImport.URL != "" {
		if why := ValidImportURL(t.UserImport.URL); why != "" {
			es.Add("user_import.url", why)
		}
	}
	if d := t.Lockout.Duration; d < time.Minute || d > 24*time.Hour || d%time.Second != 0 {
		es.Add("lockout_duration_seconds", "must be a whole number of seconds between 60 and 86400")
	}
	return es
}
