// Package apitoken holds admin API tokens: bearer credentials for the admin tier, either
// global (every tenant and tenant management) or scoped to one tenant, and with a Scope
// saying what they may do there (everything, or only what just-in-time provisioning
// needs). Only a SHA-256
// digest of a token is ever stored; the token is shown once when it is created.
// This package must never import a store or an HTTP package.
package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
)

// Prefix starts every token nines generates, so a leaked token is recognisable by
// secret scanners.
const Prefix = "nines_"

// Scope is what a token may do in the tenants it reaches.
type Scope string

const (
	// ScopeAdmin may call every route its tenant reach allows: the default.
	ScopeAdmin Scope = "admin"
	// ScopeProvision may only create users and read users (just-in-time provisioning by
	// the login tier); everything else is 403.
	ScopeProvision Scope = "provision"
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeAdmin || s == ScopeProvision }

// Token is a stored admin API token.
type Token struct {
	ID       uuid.UUID
	TenantID uuid.UUID // uuid.Nil: a global token
	// Scope is what the token may do; the store keeps "" as ScopeAdmin.
	Scope     Scope
	Name      string
	Digest    []byte `json:"-"`
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
}

// Global reports whether t is valid for every tenant and for tenant management.
func (t Token) Global() bool { return t.TenantID == uuid.Nil }

// Expired reports whether t is no longer valid at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Validate reports every problem with t's client-settable fields.
func (t Token) Validate() field.Errors {
	var es field.Errors
	if strings.TrimSpace(t.Name) == "" || len(t.Name) > 200 || !field.Line(t.Name) {
		es.Add("name", "is required, at most 200 bytes")
	}
	if t.Scope != "" && !t.Scope.Valid() {
		es.Add("scope", `must be "admin" or "provision"`)
	}
	return es
}

// Generate returns a new token (256 random bits) and its digest.
func Generate() (token string, digest []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, Digest(token)
}

// Digest is the stored and looked-up form of a token.
func Digest(token string) []byte {
	d := sha256.Sum256([]byte(token))
	return d[:]
}
