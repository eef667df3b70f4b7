package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// Reader is the login tier's view of the entity store: reads only, each run through
// Config.Replicas (or on the primary when there are none). It shares its queries with
// Store, so both give the same answers; a replica may lag the primary.
//
// Reader must never gain a method that writes.
type Reader struct{ s *Store }

// read runs fn on a database the router picks, or on the primary.
func (r *Reader) read(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	if r.s.rr == nil {
		return fn(ctx, r.s.db)
	}
	return r.s.rr.Read(ctx, func(ctx context.Context, db *sql.DB) error { return fn(ctx, db) })
}

// readOne is read for a query that returns one value.
func readOne[T any](ctx context.Context, r *Reader, fn func(ctx context.Context, q querier) (T, error)) (T, error) {
	var out T
	err := r.read(ctx, func(ctx context.Context, q querier) error {
		var err error
		out, err = fn(ctx, q)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// Tenant returns the tenant with id.
func (r *Reader) Tenant(ctx context.Context, id uuid.UUID) (tenant.Tenant, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) (tenant.Tenant, error) {
		return r.s.tenantByID(ctx, q, id)
	})
}

// TenantBySlug returns the tenant with slug.
func (r *Reader) TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) (tenant.Tenant, error) {
		return r.s.tenantBySlug(ctx, q, slug)
	})
}

// User returns the user id of tenantID.
func (r *Reader) User(ctx context.Context, tenantID, id uuid.UUID) (user.User, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) (user.User, error) {
		return r.s.userByID(ctx, q, tenantID, id)
	})
}

// UserByUsername returns the user of tenantID with username.
func (r *Reader) UserByUsername(ctx context.Context, tenantID uuid.UUID, username string) (user.User, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) (user.User, error) {
		return r.s.userByUsername(ctx, q, tenantID, username)
	})
}

// UserByEmail returns the user of tenantID with email.
func (r *Reader) UserByEmail(ctx context.Context, tenantID uuid.UUID, email string) (user.User, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) (user.User, error) {
		return r.s.userByEmail(ctx, q, tenantID, email)
	})
}

// GroupsOfUser returns the groups userID belongs to, ordered by name.
func (r *Reader) GroupsOfUser(ctx context.Context, tenantID, userID uuid.UUID) ([]user.Group, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) ([]user.Group, error) {
		return r.s.groupsOfUser(ctx, q, tenantID, userID)
	})
}

// ApplicationByClientID returns the application of tenantID with clientID.
func (r *Reader) ApplicationByClientID(ctx context.Context, tenantID uuid.UUID, clientID string) (client.Application, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) (client.Application, error) {
		return r.s.appByClientID(ctx, q, tenantID, clientID)
	})
}

// NewReader returns a Reader that runs every call through replicas and has no primary
// at all: what a login-tier process gets, so that it cannot reach the primary even by
// mistake. replicas and d must not be nil (a wiring bug, like New's).
func NewReader(d Dialect, replicas ReadRouter, now func() time.Time) *Reader {
	if d == nil || replicas == nil {
		panic("sqlstore.NewReader: a Dialect and a ReadRouter are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Reader{s: &Store{d: d, rr: replicas, now: now}}
}
