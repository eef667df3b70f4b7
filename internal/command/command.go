package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Command types. The subject of a command is "<prefix>.cmd.<type>".
const (
	TypeSignedIn         = "user.signed_in"
	TypeSignInFailed     = "user.sign_in_failed"
	TypePasswordRehashed = "user.password_rehashed"
	TypeAuditEvent       = "audit.event"
)

// MaxSize bounds a command's JSON encoding. The largest (audit.event with every detail
// at its bound) stays under it; the stream's MaxMsgSize and the spool's record bound are
// set above it.
const MaxSize = 48 << 10

var (
	// ErrInvalid: the command is malformed (envelope or payload). The worker
	// dead-letters it; retrying cannot help.
	ErrInvalid = errors.New("command: invalid")
	// ErrUnknownType: no payload of that type is known here. It is an ErrInvalid.
	ErrUnknownType = fmt.Errorf("%w: unknown type", ErrInvalid)
	// ErrUnknownVersion: the type is known but not that version. It is an ErrInvalid.
	ErrUnknownVersion = fmt.Errorf("%w: unknown version", ErrInvalid)
)

// Command is one asynchronous command: an envelope around a typed payload (Data).
type Command struct {
	// ID is the idempotency key, a UUIDv7 in canonical form; also the Nats-Msg-Id.
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Version  int             `json:"version"`
	TenantID uuid.UUID       `json:"tenant_id"`
	At       time.Time       `json:"at"` // when the login tier issued it (UTC)
	Data     json.RawMessage `json:"data"`
}

// Payload is the typed content of a command. Each (Type, Version) has one Go type.
type Payload interface {
	// CommandType and CommandVersion name the payload's schema.
	CommandType() string
	CommandVersion() int
	// Validate checks the payload's fields.
	Validate() error
}

// decoders maps type → version → a decoder of that payload.
var decoders = map[string]map[int]func([]byte) (Payload, error){
	TypeSignedIn:         {1: decodeAs[SignedIn]},
	TypeSignInFailed:     {1: decodeAs[SignInFailed]},
	TypePasswordRehashed: {1: decodeAs[PasswordRehashed]},
	TypeAuditEvent:       {1: decodeAs[AuditEvent]},
}

// Types lists the known command types with their known versions.
func Types() map[string][]int {
	out := make(map[string][]int, len(decoders))
	for t, vs := range decoders {
		for v := range vs {
			out[t] = append(out[t], v)
		}
	}
	return out
}

// New builds a command of p's type and version for tenantID, issued at, with a fresh
// UUIDv7 ID, and validates it.
func New(tenantID uuid.UUID, at time.Time, p Payload) (Command, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Command{}, fmt.Errorf("command: new id: %w", err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Command{}, fmt.Errorf("command: encode %s: %w", p.CommandType(), err)
	}
	c := Command{ID: id.String(), Type: p.CommandType(), Version: p.CommandVersion(), TenantID: tenantID,
		At: at.UTC(), Data: data}
	if err := c.Validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}

// typeRE: dot-separated lower-case tokens; each is a valid NATS subject token.
var typeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// ValidateEnvelope checks the envelope only: the ID, a type that can be a subject, a
// positive version, a tenant and a time. It is what a relay (the spool's flusher) needs
// to publish a command it may not know the payload of.
func (c Command) ValidateEnvelope() error {
	id, err := uuid.Parse(c.ID)
	if err != nil || id.String() != c.ID || id.Version() != 7 {
		return fmt.Errorf("%w: id %q is not a canonical UUIDv7", ErrInvalid, c.ID)
	}
	if len(c.Type) > 64 || !typeRE.MatchString(c.Type) {
		return fmt.Errorf("%w: type %q", ErrInvalid, c.Type)
	}
	if c.Version <= 0 {
		return fmt.Errorf("%w: %s version %d", ErrInvalid, c.Type, c.Version)
	}
	if c.TenantID == uuid.Nil {
		return fmt.Errorf("%w: %s %s without a tenant", ErrInvalid, c.Type, c.ID)
	}
	if c.At.IsZero() {
		return fmt.Errorf("%w: %s %s without a time", ErrInvalid, c.Type, c.ID)
	}
	return nil
}

// Validate checks the envelope and decodes and checks the payload. Unknown types and
// versions are ErrUnknownType and ErrUnknownVersion.
func (c Command) Validate() error {
	_, err := c.Payload()
	return err
}

// Payload validates c and returns its typed payload (SignedIn, SignInFailed,
// PasswordRehashed or AuditEvent: a type switch on the value).
func (c Command) Payload() (Payload, error) {
	if err := c.ValidateEnvelope(); err != nil {
		return nil, err
	}
	vs, ok := decoders[c.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q (command %s)", ErrUnknownType, c.Type, c.ID)
	}
	dec, ok := vs[c.Version]
	if !ok {
		return nil, fmt.Errorf("%w %d of %s (command %s)", ErrUnknownVersion, c.Version, c.Type, c.ID)
	}
	p, err := dec(c.Data)
	if err != nil {
		return nil, fmt.Errorf("%s v%d %s: %w", c.Type, c.Version, c.ID, err)
	}
	return p, nil
}

// Subject is the NATS subject of c under prefix: "<prefix>.cmd.<type>".
func (c Command) Subject(prefix string) string {
	return prefix + ".cmd." + c.Type
}

// Encode is c's JSON encoding, refused beyond MaxSize.
func (c Command) Encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("command: encode %s: %w", c.Type, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %s %s is %d bytes, at most %d", ErrInvalid, c.Type, c.ID, len(b), MaxSize)
	}
	return b, nil
}

// Decode parses and validates a command (envelope and payload, strictly: unknown fields
// are errors). Every error is an ErrInvalid; unknown types and versions are
// ErrUnknownType and ErrUnknownVersion.
func Decode(b []byte) (Command, error) {
	c, err := DecodeEnvelope(b)
	if err != nil {
		return Command{}, err
	}
	if err := c.Validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}

// DecodeEnvelope parses a command and checks its envelope only (ValidateEnvelope), not
// its payload: for relays that forward commands of types or versions they may not know.
func DecodeEnvelope(b []byte) (Command, error) {
	if len(b) > MaxSize {
		return Command{}, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(b), MaxSize)
	}
	var c Command
	if err := strictUnmarshal(b, &c); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := c.ValidateEnvelope(); err != nil {
		return Command{}, err
	}
	return c, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func decodeAs[T Payload](b []byte) (Payload, error) {
	var p T
	if len(b) == 0 || string(b) == "null" {
		return nil, fmt.Errorf("%w: no data", ErrInvalid)
	}
	if err := strictUnmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: data: %v", ErrInvalid, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// String names the command without its data (which may hold a password hash).
func (c Command) String() string {
	return fmt.Sprintf("%s v%d %s (tenant %s)", c.Type, c.Version, c.ID, c.TenantID)
}

// GoString is String: %#v must not print Data either.
func (c Command) GoString() string { return "command.Command{" + c.String() + "}" }

// LogValue logs the envelope without Data.
func (c Command) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("type", c.Type),
		slog.Int("version", c.Version),
		slog.String("tenant", c.TenantID.String()),
		slog.Time("at", c.At),
	)
}
