package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/tenant"
)

// ErrNoSession: the request carries no session of this tenant (no cookie, an unknown or
// malformed one, one of another tenant, or an expired or ended session).
var ErrNoSession = errors.New("session: no session")

// DefaultLifetime is the absolute lifetime of a session that Config does not set.
const DefaultLifetime = 12 * time.Hour

// AMRPassword is the authentication method reference of a password (RFC 8176 §2).
const AMRPassword = "pwd"

// idBytes is the entropy of a session ID: 256 bits.
const idBytes = 32

// Session is one signed-in browser at one tenant.
type Session struct {
	ID        string // the cookie value; never logged, never stored in the KV
	TenantID  uuid.UUID
	UserID    uuid.UUID
	AuthTime  time.Time // when the user authenticated (OIDC auth_time), whole seconds
	AMR       []string  // authentication methods references (RFC 8176), e.g. ["pwd"]
	ExpiresAt time.Time // absolute end, whole seconds
}

// LogValue keeps the session ID out of logs.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenant", s.TenantID.String()), slog.String("user", s.UserID.String()),
		slog.Time("expires", s.ExpiresAt))
}

// Config configures a Manager. Bucket is required (the regional Sessions bucket).
type Config struct {
	Bucket kv.Bucket
	// Secure is false only when the public URL is http://localhost (or a loopback
	// address): cookies then lose Secure and the __Host- prefix.
	Secure bool
	// Lifetime is the absolute lifetime of a session (default 12h). It is cut to
	// kv.SessionTTL, after which the bucket drops an unwritten entry anyway.
	Lifetime time.Duration
	// InstanceTag, when set (an affinity.ValidTag), prefixes every session ID this
	// Manager mints (affinity.Prefix), so the edge routes the cookie's requests to this
	// process, which holds the session during a NATS outage. Empty: untagged IDs.
	// Sessions of either shape, tagged by any process or untagged, are accepted.
	InstanceTag string
	Now         func() time.Time
}

// Manager starts, finds and ends sessions. It is safe for concurrent use.
type Manager struct {
	bucket   kv.Bucket
	secure   bool
	lifetime time.Duration
	tag      string // affinity tag of the IDs it mints; "" for none
	now      func() time.Time
}

// New returns a Manager for cfg, with defaults for the zero fields.
func New(cfg Config) *Manager {
	m := &Manager{bucket: cfg.Bucket, secure: cfg.Secure, lifetime: cfg.Lifetime, tag: cfg.InstanceTag, now: cfg.Now}
	if !affinity.ValidTag(m.tag) {
		m.tag = "" // configuration validation refuses one; never mint IDs this package would reject
	}
	if m.lifetime <= 0 {
		m.lifetime = DefaultLifetime
	}
	m.lifetime = min(m.lifetime, kv.SessionTTL)
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// record is the KV value of a session. Times are Unix seconds. It holds neither the
// session ID nor its digest (the digest is in the key).
type record struct {
	Version  int       `json:"v"`
	Tenant   uuid.UUID `json:"t"`
	User     uuid.UUID `json:"u"`
	AuthTime int64     `json:"at"`
	AMR      []string  `json:"amr,omitempty"`
	Expires  int64     `json:"exp"`
}

const recordVersion = 1

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CookieName is the name of tenant t's session cookie: "__Host-nines-<slug>", or
// "nines-<slug>" when secure is false (http://localhost). A tenant whose slug is not a
// valid slug (which validation prevents) is named by its ID instead.
func CookieName(t tenant.Tenant, secure bool) string {
	name := t.Slug
	if !slugPattern.MatchString(name) {
		name = t.ID.String()
	}
	if secure {
		return "__Host-nines-" + name
	}
	return "nines-" + name
}

// key is the KV key of a session ID at a tenant.
func key(tenantID uuid.UUID, id string) string {
	sum := sha256.Sum256([]byte(id))
	return tenantID.String() + "." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// validID reports whether id has the shape of a session ID, so that junk never reaches
// the KV: idBytes of unpadded base64url, optionally prefixed with a valid affinity tag
// and affinity.Sep (any process's tag: the edge may route elsewhere while the tagged
// process is down, and the shared KV still holds the session).
func validID(id string) bool {
	if tag, rest, ok := strings.Cut(id, affinity.Sep); ok {
		if !affinity.ValidTag(tag) {
			return false
		}
		id = rest
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil && len(b) == idBytes
}

// Start creates a session for userID at tenant t, authenticated now by amr, and sets its
// cookie on w (call it before writing the response body). It replaces no earlier session:
// the caller ends the old one first when the user changes.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, t tenant.Tenant, userID uuid.UUID, amr []string) (Session, error) {
	if t.ID == uuid.Nil || userID == uuid.Nil {
		return Session{}, errors.New("session: start without a tenant or user ID")
	}
	raw := make([]byte, idBytes)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, fmt.Errorf("session: random: %w", err)
	}
	now := m.now().Truncate(time.Second)
	s := Session{
		ID:        affinity.Prefix(m.tag, base64.RawURLEncoding.EncodeToString(raw)),
		TenantID:  t.ID,
		UserID:    userID,
		AuthTime:  now,
		AMR:       slices.Clone(amr),
		ExpiresAt: now.Add(m.lifetime),
	}
	b, err := json.Marshal(record{Version: recordVersion, Tenant: t.ID, User: userID, AuthTime: now.Unix(),
		AMR: s.AMR, Expires: s.ExpiresAt.Unix()})
	if err != nil {
		return Session{}, err
	}
	if _, err := m.bucket.Create(ctx, key(t.ID, s.ID), b); err != nil {
		return Session{}, fmt.Errorf("session: store: %w", err)
	}
	http.SetCookie(w, m.cookie(t, s.ID, int(m.lifetime/time.Second)))
	return s, nil
}

// Current returns the live session the request carries for tenant t, or ErrNoSession. A
// KV failure is returned wrapped (kv.ErrUnavailable): the caller decides whether to ask
// the user to sign in again or to answer 503.
func (m *Manager) Current(ctx context.Context, r *http.Request, t tenant.Tenant) (Session, error) {
	id, ok := m.cookieID(r, t)
	if !ok {
		return Session{}, ErrNoSession
	}
	e, err := m.bucket.Get(ctx, key(t.ID, id))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return Session{}, ErrNoSession
	case err != nil:
		return Session{}, fmt.Errorf("session: read: %w", err)
	}
	return m.decode(t, id, e.Value)
}

// End deletes the request's session at tenant t and clears its cookie on w, returning the
// session it ended (for logout notifications) or ErrNoSession when there was none live.
// The cookie is cleared in every case, a KV failure included.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request, t tenant.Tenant) (Session, error) {
	http.SetCookie(w, m.cookie(t, "", -1))
	id, ok := m.cookieID(r, t)
	if !ok {
		return Session{}, ErrNoSession
	}
	e, err := m.bucket.Consume(ctx, key(t.ID, id))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return Session{}, ErrNoSession
	case err != nil:
		return Session{}, fmt.Errorf("session: delete: %w", err)
	}
	return m.decode(t, id, e.Value)
}

// cookieID returns the well-formed session ID of t's cookie in r.
func (m *Manager) cookieID(r *http.Request, t tenant.Tenant) (string, bool) {
	c, err := r.Cookie(CookieName(t, m.secure))
	if err != nil || !validID(c.Value) {
		return "", false
	}
	return c.Value, true
}

// decode checks a stored record against the tenant and the clock.
func (m *Manager) decode(t tenant.Tenant, id string, value []byte) (Session, error) {
	var rec record
	if err := json.Unmarshal(value, &rec); err != nil || rec.Version != recordVersion ||
		rec.Tenant != t.ID || rec.User == uuid.Nil {
		return Session{}, ErrNoSession
	}
	s := Session{ID: id, TenantID: rec.Tenant, UserID: rec.User, AuthTime: time.Unix(rec.AuthTime, 0).UTC(),
		AMR: rec.AMR, ExpiresAt: time.Unix(rec.Expires, 0).UTC()}
	if !m.now().Before(s.ExpiresAt) {
		return Session{}, ErrNoSession
	}
	return s, nil
}

// cookie is t's session cookie with value v; maxAge < 0 deletes it.
func (m *Manager) cookie(t tenant.Tenant, v string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName(t, m.secure),
		Value:    v,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   m.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}
