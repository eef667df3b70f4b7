// Package store holds what every storage backend shares: the sentinel errors callers
// compare with errors.Is, and the pagination types. The backends live in the
// subpackages (sqlstore with its sqlite and postgres drivers); the conformance suite that
// every backend must pass is storetest.
//
// Consumers declare the small interfaces they need in their own packages (admin declares
// a read-write Store, login will declare readers without a single write method).
package store

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

var (
	// ErrNotFound: no such entity in the given tenant (also when it exists in another).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a unique key (slug, username, e-mail, client_id, group name,
	// membership) is taken. The concrete error is an *AlreadyExistsError naming the field.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: an update named a version that is no longer current (optimistic
	// concurrency); re-read and try again.
	ErrConflict = errors.New("version conflict")
	// ErrUnavailable: no database that may serve the call is reachable right now.
	ErrUnavailable = errors.New("storage unavailable")
)

// AlreadyExistsError says which unique field collided, using the wire (JSON) name.
type AlreadyExistsError struct{ Field string }

func (e *AlreadyExistsError) Error() string { return e.Field + " already exists" }

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *AlreadyExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// AlreadyExists returns the error for a collision on field.
func AlreadyExists(field string) error { return &AlreadyExistsError{Field: field} }

// Limits for list calls.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ListOptions selects one page of a list ordered by ID (IDs are UUIDv7, so this is
// creation order). After is the last ID of the previous page, or uuid.Nil for the first.
type ListOptions struct {
	After uuid.UUID
	Limit int
}

// Normalize clamps Limit into [1, MaxLimit], with DefaultLimit for zero.
func (o ListOptions) Normalize() ListOptions {
	switch {
	case o.Limit <= 0:
		o.Limit = DefaultLimit
	case o.Limit > MaxLimit:
		o.Limit = MaxLimit
	}
	return o
}

// Page is one page of a list. Next is the cursor for the following page, uuid.Nil when
// this page is the last.
type Page[T any] struct {
	Items []T
	Next  uuid.UUID
}

// DBHealth is one database's state, reported in /readyz detail and the logs.
type DBHealth struct {
	Name    string    `json:"name"` // host:port or file path; never a password
	Role    string    `json:"role"` // "primary" or "replica"
	Healthy bool      `json:"healthy"`
	Error   string    `json:"error,omitempty"`
	Since   time.Time `json:"since"` // when Healthy last changed
}
