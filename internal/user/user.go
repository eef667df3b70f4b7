// Package user holds end users, groups and memberships, and their pure rules
// (normalisation and validation). It must never import a store or an HTTP package.
package user

import (
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
)

// Status is the lifecycle state of a user. Only active users can sign in.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusDisabled }

// User is an end user of one tenant. Username and Email are unique within the tenant,
// compared after Normalize (lower case), so "Alice" and "alice" are the same account.
type User struct {
	ID            uuid.UUID
	TenantID      uuid.UUID
	Username      string
	Email         string // may be empty
	EmailVerified bool
	GivenName     string
	FamilyName    string
	Status        Status
	// PasswordHash is a PHC string ($argon2id$…), empty when the user has no password.
	// It is never serialised to any API and never logged.
	PasswordHash string `json:"-"`
	// LastLoginAt is the time of the last successful sign-in; zero when never. The login
	// tier records it without changing Version.
	LastLoginAt time.Time
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LogValue keeps the password hash and personal data out of logs.
func (u User) LogValue() slog.Value { return slog.StringValue("user:" + u.ID.String()) }

// Normalize lower-cases the unique keys so that lookups and uniqueness agree.
func (u *User) Normalize() {
	u.Username = strings.ToLower(strings.TrimSpace(u.Username))
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,127}$`)

// Validate reports every problem with u's client-settable fields. Call Normalize first.
func (u User) Validate() field.Errors {
	var es field.Errors
	switch {
	case u.Username == "":
		es.Add("username", "is required")
	case !usernamePattern.MatchString(u.Username):
		es.Add("username", "must be 1-128 characters: letters, digits and . _ @ + - (not first)")
	}
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || len(u.Email) > 254 {
			es.Add("email", "must be a plain e-mail address such as alice@example.com")
		}
	}
	checkName(&es, "given_name", u.GivenName)
	checkName(&es, "family_name", u.FamilyName)
	if !u.Status.Valid() {
		es.Add("status", `must be "active" or "disabled"`)
	}
	return es
}

func checkName(es *field.Errors, name, v string) {
	if len(v) > 200 || !field.Line(v) {
		es.Add(name, "must be valid UTF-8 of at most 200 bytes")
	}
}

// Password length bounds. The upper bound caps the work a single sign-in can demand.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// ValidatePassword checks a new password against the length policy (NIST SP 800-63B:
// length, not composition rules).
func ValidatePassword(pw string) field.Errors {
	var es field.Errors
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		es.Add("password", "must be at least 8 characters")
	case len(pw) > MaxPasswordLen:
		es.Add("password", "must be at most 1024 bytes")
	}
	return es
}

// Group is a named set of users in one tenant. Name is unique within the tenant.
type Group struct {
	ID          uuid.UUID
	TenantID    uuid.UUID
	Name        string
	Description string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

var groupNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/ -]{0,127}$`)

// Validate reports every problem with g's client-settable fields.
func (g Group) Validate() field.Errors {
	var es field.Errors
	switch {
	case g.Name == "":
		es.Add("name", "is required")
	case !groupNamePattern.MatchString(g.Name):
		es.Add("name", "must be 1-128 characters: letters, digits, space and . _ : / - (not first)")
	}
	if len(g.Description) > 1000 || !field.Text(g.Description) {
		es.Add("description", "must be valid UTF-8 of at most 1000 bytes")
	}
	return es
}
