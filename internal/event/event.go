package event

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Types the worker writes besides audit events, whose type is the audit action itself.
const (
	TypeSignedIn     = "user.signed_in"
	TypeSignInFailed = "user.sign_in_failed"
)

// Event is one stored event of a tenant. ID is a UUIDv7 (the ID of the command that
// produced it when that is one), so ID order is close to time order; At is when it
// happened (UTC, microseconds), which may be earlier than when it was stored.
type Event struct {
	TenantID uuid.UUID       `json:"tenant_id"`
	ID       uuid.UUID       `json:"id"`
	Type     string          `json:"type"`
	UserID   uuid.UUID       `json:"user_id,omitzero"` // uuid.Nil: about no user
	At       time.Time       `json:"at"`
	Data     json.RawMessage `json:"data"` // a JSON object; "{}" when there is nothing to add
}

// Filter selects events; a zero field selects everything. Since is inclusive and Until
// exclusive, so consecutive windows neither overlap nor leave gaps.
type Filter struct {
	Type   string
	UserID uuid.UUID
	Since  time.Time
	Until  time.Time
}
