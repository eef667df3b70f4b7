package command

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// SignedIn is user.signed_in v1: a successful sign-in. The worker sets the user's last
// sign-in time (keeping the later one if a command arrives late).
type SignedIn struct {
	UserID uuid.UUID `json:"user_id"`
	At     time.Time `json:"at"`
}

func (SignedIn) CommandType() string { return TypeSignedIn }
func (SignedIn) CommandVersion() int { return 1 }

// Validate checks the user and the time.
func (p SignedIn) Validate() error {
	if p.UserID == uuid.Nil {
		return fmt.Errorf("%w: %s without a user", ErrInvalid, TypeSignedIn)
	}
	if p.At.IsZero() {
		return fmt.Errorf("%w: %s without a time", ErrInvalid, TypeSignedIn)
	}
	return nil
}

// NewSignedIn is a user.signed_in command.
func NewSignedIn(tenantID, userID uuid.UUID, at time.Time) (Command, error) {
	return New(tenantID, at, SignedIn{UserID: userID, At: at.UTC()})
}

// SignInFailed is user.sign_in_failed v1: a failed sign-in attempt, for the audit trail.
// It never carries the name typed or the password: UserID only when the account was
// found, and a digest of the source (the client address), computed by the login tier.
type SignInFailed struct {
	UserID uuid.UUID `json:"user_id,omitzero"` // zero when no account matched
	// SourceDigest is a lower-case hex digest of the client's address (16–128 digits).
	SourceDigest string `json:"source_digest"`
	// Reason is a short code such as "invalid_credentials" or "locked" ([a-z_], optional).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

func (SignInFailed) CommandType() string { return TypeSignInFailed }
func (SignInFailed) CommandVersion() int { return 1 }

var (
	hexDigestRE = regexp.MustCompile(`^[0-9a-f]{16,128}$`)
	reasonRE    = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
)

// Validate checks the source digest, the reason and the time.
func (p SignInFailed) Validate() error {
	if !hexDigestRE.MatchString(p.SourceDigest) {
		return fmt.Errorf("%w: %s: source_digest must be 16–128 lower-case hex digits", ErrInvalid, TypeSignInFailed)
	}
	if p.Reason != "" && !reasonRE.MatchString(p.Reason) {
		return fmt.Errorf("%w: %s: reason %q", ErrInvalid, TypeSignInFailed, p.Reason)
	}
	if p.At.IsZero() {
		return fmt.Errorf("%w: %s without a time", ErrInvalid, TypeSignInFailed)
	}
	return nil
}

// NewSignInFailed is a user.sign_in_failed command; userID is uuid.Nil when no account
// matched.
func NewSignInFailed(tenantID, userID uuid.UUID, sourceDigest, reason string, at time.Time) (Command, error) {
	return New(tenantID, at, SignInFailed{UserID: userID, SourceDigest: sourceDigest, Reason: reason, At: at.UTC()})
}

// PasswordRehashed is user.password_rehashed v1: a fresh hash of the user's password,
// computed after a successful sign-in on a hash with weaker parameters. The worker
// stores it. Hash is a secret: String, GoString and LogValue redact it.
type PasswordRehashed struct {
	UserID uuid.UUID `json:"user_id"`
	Hash   string    `json:"hash"`
}

func (PasswordRehashed) CommandType() string { return TypePasswordRehashed }
func (PasswordRehashed) CommandVersion() int { return 1 }

// MaxHashLen bounds PasswordRehashed.Hash (a PHC string is about 100 bytes).
const MaxHashLen = 512

// Validate checks the user and that the hash is a PHC string ("$alg$...").
func (p PasswordRehashed) Validate() error {
	if p.UserID == uuid.Nil {
		return fmt.Errorf("%w: %s without a user", ErrInvalid, TypePasswordRehashed)
	}
	if len(p.Hash) < 2 || len(p.Hash) > MaxHashLen || p.Hash[0] != '$' || !utf8.ValidString(p.Hash) {
		return fmt.Errorf("%w: %s: hash is not a PHC string of at most %d bytes", ErrInvalid, TypePasswordRehashed, MaxHashLen)
	}
	return nil
}

func (p PasswordRehashed) String() string {
	return fmt.Sprintf("PasswordRehashed{UserID: %s, Hash: [redacted]}", p.UserID)
}

// GoString is String: %#v must not print the hash either.
func (p PasswordRehashed) GoString() string { return p.String() }

// LogValue logs the user, not the hash.
func (p PasswordRehashed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", p.UserID.String()), slog.String("hash", "[redacted]"))
}

// NewPasswordRehashed is a user.password_rehashed command.
func NewPasswordRehashed(tenantID, userID uuid.UUID, hash string, at time.Time) (Command, error) {
	return New(tenantID, at, PasswordRehashed{UserID: userID, Hash: hash})
}

// AuditEvent is audit.event v1: an entry of the tenant's audit trail.
type AuditEvent struct {
	Type    string            `json:"type"`              // e.g. "consent.granted": [a-z0-9._-], at most 64
	Actor   string            `json:"actor"`             // who acted, e.g. "user:<id>", "client:<id>"
	Subject string            `json:"subject,omitempty"` // what it acted on
	Details map[string]string `json:"details,omitempty"` // at most MaxAuditDetails entries
}

func (AuditEvent) CommandType() string { return TypeAuditEvent }
func (AuditEvent) CommandVersion() int { return 1 }

// Bounds of an AuditEvent.
const (
	MaxAuditDetails      = 32
	MaxAuditDetailsBytes = 4 << 10 // keys and values together
	maxAuditField        = 256
)

var (
	auditTypeRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)
	detailKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// Validate checks the type, the actor, the subject and the details' bounds.
func (p AuditEvent) Validate() error {
	if !auditTypeRE.MatchString(p.Type) {
		return fmt.Errorf("%w: %s: type %q", ErrInvalid, TypeAuditEvent, p.Type)
	}
	if p.Actor == "" || len(p.Actor) > maxAuditField || !utf8.ValidString(p.Actor) {
		return fmt.Errorf("%w: %s: actor must be 1–%d bytes of UTF-8", ErrInvalid, TypeAuditEvent, maxAuditField)
	}
	if len(p.Subject) > maxAuditField || !utf8.ValidString(p.Subject) {
		return fmt.Errorf("%w: %s: subject must be at most %d bytes of UTF-8", ErrInvalid, TypeAuditEvent, maxAuditField)
	}
	if len(p.Details) > MaxAuditDetails {
		return fmt.Errorf("%w: %s: %d details, at most %d", ErrInvalid, TypeAuditEvent, len(p.Details), MaxAuditDetails)
	}
	n := 0
	for k, v := range p.Details {
		if !detailKeyRE.MatchString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: %s: detail %q", ErrInvalid, TypeAuditEvent, k)
		}
		n += len(k) + len(v)
	}
	if n > MaxAuditDetailsBytes {
		return fmt.Errorf("%w: %s: details take %d bytes, at most %d", ErrInvalid, TypeAuditEvent, n, MaxAuditDetailsBytes)
	}
	return nil
}

// NewAuditEvent is an audit.event command.
func NewAuditEvent(tenantID uuid.UUID, at time.Time, e AuditEvent) (Command, error) {
	return New(tenantID, at, e)
}
