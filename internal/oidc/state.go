package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/session"
)

// newSecret returns a 256-bit random value, base64url without padding (secretLen
// characters): the random part of codes, refresh tokens, device codes, auth request IDs.
// It is never tagged: the Provider mints through mintSecret.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secretLen is the length of newSecret's value: 32 bytes in unpadded base64url.
const secretLen = 43

// maxSecretLen bounds a secret this package minted, tagged or not: the longest tag, the
// separator and newSecret's value.
const maxSecretLen = affinity.MaxTagLen + len(affinity.Sep) + secretLen

// mintSecret returns a new secret that a later request of the same flow carries (an
// authorization request ID, a code, a device code, a refresh token), prefixed with the
// instance tag when one is configured (affinity.Prefix) so the edge routes that request
// back to this process. The KV stores it by the digest of the whole tagged value; its
// 256 random bits are untouched by the tag, which is a routing hint only.
func (p *Provider) mintSecret() string {
	return affinity.Prefix(p.cfg.InstanceTag, newSecret())
}

// newID returns a 128-bit random identifier (token IDs, grant IDs).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is the stored form of a secret: SHA-256, base64url. The secrets have 256 bits
// of entropy, so a fast hash is enough; only the digest ever reaches the KV or a log.
func digest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(d[:])
}

// kvKey builds a KV key: tenant, kind and a digest (or an ID), all in the KV alphabet.
// The tenant is part of every key, so an artifact of one tenant is simply absent in
// another.
func kvKey(tid uuid.UUID, kind, id string) string { return tid.String() + "." + kind + "." + id }

// Key kinds.
const (
	kindAuthRequest = "ar"  // AuthRequests: pending authorization request, by digest of its ID
	kindCode        = "c"   // Codes: authorization code, by digest
	kindRefresh     = "rt"  // Refresh: refresh token, by digest
	kindRevoked     = "rev" // Refresh: revoked grant (family), by grant ID
	kindDevice      = "dc"  // DeviceCodes: device code, by digest
	kindUserCode    = "uc"  // DeviceCodes: user code → device code digest
	kindAssertion   = "ja"  // Codes: client assertion jti seen (replay guard)
)

// grant is what a user (or client) granted a client, carried from the authorization
// request through the code into every token of the same family.
type grant struct {
	ClientID string    `json:"cid"`
	UserID   uuid.UUID `json:"uid"`
	Scopes   []string  `json:"scp"`
	AuthTime time.Time `json:"at"`
	AMR      []string  `json:"amr,omitempty"`
	SID      string    `json:"sid,omitempty"`
	Nonce    string    `json:"nonce,omitempty"`
	// GrantID names the token family: every access and refresh token issued from this
	// grant carries it, and revoking it revokes them all.
	GrantID string `json:"gid"`
}

// authRequest is a pending authorization request (AuthRequests bucket).
type authRequest struct {
	ClientID     string    `json:"cid"`
	RedirectURI  string    `json:"ru"`
	Scopes       []string  `json:"scp"`
	State        string    `json:"st,omitempty"`
	Nonce        string    `json:"nonce,omitempty"`
	Challenge    string    `json:"cc,omitempty"`
	ResponseMode string    `json:"rm,omitempty"`
	LoginHint    string    `json:"lh,omitempty"`
	MaxAge       *int64    `json:"ma,omitempty"`
	PromptLogin  bool      `json:"pl,omitempty"`
	NotBefore    time.Time `json:"nb,omitempty"` // with prompt=login: sessions older are not enough
	ExpiresAt    time.Time `json:"exp"`
}

// codeRecord is an issued authorization code (Codes bucket). Redeemed marks a code that
// was already exchanged: presenting it again revokes its grant (RFC 6749 §4.1.2).
type codeRecord struct {
	grant
	RedirectURI string    `json:"ru"`
	Challenge   string    `json:"cc,omitempty"`
	ExpiresAt   time.Time `json:"exp"`
	Redeemed    bool      `json:"red,omitempty"`
}

// refreshRecord is a refresh token (Refresh bucket). Rotated marks a token that was
// already exchanged for a new one: presenting it again revokes the family (RFC 9700
// §4.14.2).
type refreshRecord struct {
	grant
	ExpiresAt time.Time `json:"exp"` // absolute end of the family
	Rotated   bool      `json:"rot,omitempty"`
}

// deviceRecord is a device authorization (DeviceCodes bucket, RFC 8628).
type deviceRecord struct {
	ClientID  string    `json:"cid"`
	Scopes    []string  `json:"scp"`
	UserCode  string    `json:"ucd"` // digest of the normalised user code
	ExpiresAt time.Time `json:"exp"`
	LastPoll  time.Time `json:"lp,omitempty"`
	Interval  int64     `json:"iv"`
	Status    string    `json:"s"` // pending, approved, denied
	Grant     *grant    `json:"g,omitempty"`
}

const (
	devicePending  = "pending"
	deviceApproved = "approved"
	deviceDenied   = "denied"
)

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("oidc: marshal %T: %v", v, err)) // only our own plain structs reach here
	}
	return b
}

func decodeEntry(e kv.Entry, v any) error {
	if err := json.Unmarshal(e.Value, v); err != nil {
		return ServerError(fmt.Errorf("kv entry does not decode: %w", err))
	}
	return nil
}

// kvErr classifies a KV error: unavailable stays unavailable; anything else is a server
// error. ErrNotFound is handled by callers.
func kvErr(err error) error {
	if errors.Is(err, kv.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return wrapError(CodeTemporarilyUnavailable, err)
	}
	return ServerError(err)
}

// revokeGrant revokes a token family: its refresh tokens stop refreshing and its access
// tokens stop introspecting as active and stop working at userinfo. The marker lives in
// the global Refresh bucket so every region sees it.
func (p *Provider) revokeGrant(ctx context.Context, tid uuid.UUID, gid string) error {
	if gid == "" {
		return nil
	}
	_, err := p.cfg.Buckets.Refresh.Put(ctx, kvKey(tid, kindRevoked, gid), encode(map[string]time.Time{"at": p.now()}))
	if err != nil {
		return kvErr(err)
	}
	return nil
}

// grantRevoked reports whether gid was revoked. A KV failure counts as revoked (fail
// closed) and is returned.
//
// "Not revoked" is the stream leader's answer (kv confirms every "not found" there), so
// a revocation written elsewhere in the region is seen at once.
func (p *Provider) grantRevoked(ctx context.Context, tid uuid.UUID, gid string) (bool, error) {
	_, err := p.cfg.Buckets.Refresh.Get(ctx, kvKey(tid, kindRevoked, gid))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, kv.ErrNotFound):
		return false, nil
	default:
		return true, kvErr(err)
	}
}

var timeZero time.Time

// sessionID is the OIDC "sid" of a session (OIDC Front-Channel Logout §3): a digest of
// the session's ID, which is the cookie value and must never leave the server.
func sessionID(s session.Session) string { return digest("sid\x00" + s.ID)[:22] }

// lostConsume reports a Consume that another caller won: ErrNotFound, or ErrConflict
// when the NATS bucket gave up after its compare-and-swap retries under contention.
func lostConsume(err error) bool {
	return errors.Is(err, kv.ErrNotFound) || errors.Is(err, kv.ErrConflict)
}
