package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/user"
)

const userCols = `tenant_id, id, username, email, email_verified, given_name, family_name,
	status, password_hash, last_login_at, version, created_at, updated_at`

func (s *Store) scanUser(r row) (user.User, error) {
	var u user.User
	err := r.Scan(&u.TenantID, &u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.GivenName,
		&u.FamilyName, &u.Status, &u.PasswordHash, s.scanTime(&u.LastLoginAt), &u.Version,
		s.scanTime(&u.CreatedAt), s.scanTime(&u.UpdatedAt))
	return u, err
}

// CreateUser stores u in tenantID with Version 1. The store keeps Username and Email as
// given: callers normalise them (user.Normalize) so that uniqueness is case-insensitive.
func (s *Store) CreateUser(ctx context.Context, tenantID uuid.UUID, u user.User) (user.User, error) {
	id, err := newID(u.ID)
	if err != nil {
		return user.User{}, err
	}
	now := s.stamp()
	u.ID, u.TenantID, u.Version, u.CreatedAt, u.UpdatedAt = id, tenantID, 1, now, now
	if !u.LastLoginAt.IsZero() {
		u.LastLoginAt = u.LastLoginAt.UTC().Truncate(time.Microsecond)
	}
	_, err = s.exec(ctx, "create user", `INSERT INTO users (`+userCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		u.TenantID, u.ID, u.Username, u.Email, u.EmailVerified, u.GivenName, u.FamilyName,
		u.Status, u.PasswordHash, s.timeArg(u.LastLoginAt), u.Version, s.d.Time(now), s.d.Time(now))
	if err != nil {
		return user.User{}, err
	}
	return u, nil
}

// User returns the user id of tenantID.
func (s *Store) User(ctx context.Context, tenantID, id uuid.UUID) (user.User, error) {
	return s.userByID(ctx, s.db, tenantID, id)
}

// UserByUsername returns the user of tenantID with username (compared exactly).
func (s *Store) UserByUsername(ctx context.Context, tenantID uuid.UUID, username string) (user.User, error) {
	return s.userByUsername(ctx, s.db, tenantID, username)
}

// UserByEmail returns the user of tenantID with email (compared exactly). The empty
// e-mail address belongs to no one.
func (s *Store) UserByEmail(ctx context.Context, tenantID uuid.UUID, email string) (user.User, error) {
	return s.userByEmail(ctx, s.db, tenantID, email)
}

func (s *Store) userByID(ctx context.Context, q querier, tenantID, id uuid.UUID) (user.User, error) {
	u, err := s.scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users
		WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return u, s.readErr("user", err)
}

func (s *Store) userByUsername(ctx context.Context, q querier, tenantID uuid.UUID, username string) (user.User, error) {
	u, err := s.scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users
		WHERE tenant_id = $1 AND username = $2`, tenantID, username))
	return u, s.readErr("user by username", err)
}

func (s *Store) userByEmail(ctx context.Context, q querier, tenantID uuid.UUID, email string) (user.User, error) {
	if email == "" {
		return user.User{}, store.ErrNotFound
	}
	// "email <> ''" repeats the predicate of the partial index users_email_key so that
	// PostgreSQL can use it.
	u, err := s.scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users
		WHERE tenant_id = $1 AND email = $2 AND email <> ''`, tenantID, email))
	return u, s.readErr("user by email", err)
}

// ListUsers returns one page of tenantID's users, ordered by ID.
func (s *Store) ListUsers(ctx context.Context, tenantID uuid.UUID, opts store.ListOptions) (store.Page[user.User], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, opts.After, opts.Limit+1)
	if err != nil {
		return store.Page[user.User]{}, s.readErr("list users", err)
	}
	p, err := collect(rows, opts.Limit, s.scanUser, func(u user.User) uuid.UUID { return u.ID })
	return p, s.readErr("list users", err)
}

// UpdateUser stores every mutable field of u (username, e-mail, names, status, password
// hash) if u.Version is current, and returns the stored user with the next version.
// LastLoginAt is not written: only RecordSignIn sets it.
func (s *Store) UpdateUser(ctx context.Context, tenantID uuid.UUID, u user.User) (user.User, error) {
	return update(ctx, s, versioned{
		op: "update user",
		update: `UPDATE users
			SET username = $1, email = $2, email_verified = $3, given_name = $4, family_name = $5,
				status = $6, password_hash = $7, version = version + 1, updated_at = $8
			WHERE tenant_id = $9 AND id = $10 AND version = $11
			RETURNING ` + userCols,
		args: []any{u.Username, u.Email, u.EmailVerified, u.GivenName, u.FamilyName, u.Status,
			u.PasswordHash, s.d.Time(s.stamp()), tenantID, u.ID, u.Version},
		exists: `SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2`,
		key:    []any{tenantID, u.ID},
	}, s.scanUser)
}

// DeleteUser removes the user id of tenantID and, by cascade, its group memberships.
func (s *Store) DeleteUser(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.deleteOne(ctx, "delete user", `DELETE FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, id)
}

// RecordSignIn records a successful sign-in of userID at at (UTC, microseconds). The
// time only moves forward, so sign-ins recorded out of order (asynchronous commands)
// keep the latest. It changes neither Version nor UpdatedAt: it is a fact about the
// user, not an edit, and must not make an admin's concurrent update fail. A user that
// is not in tenantID is store.ErrNotFound.
func (s *Store) RecordSignIn(ctx context.Context, tenantID, userID uuid.UUID, at time.Time) error {
	return s.retry(ctx, func() error { return s.recordSignIn(ctx, s.db, tenantID, userID, at) })
}

// RecordSignInTx is RecordSignIn inside tx (a worker's ApplyCommand).
func (s *Store) RecordSignInTx(ctx context.Context, tx *sql.Tx, tenantID, userID uuid.UUID, at time.Time) error {
	return s.recordSignIn(ctx, tx, tenantID, userID, at)
}

func (s *Store) recordSignIn(ctx context.Context, q querier, tenantID, userID uuid.UUID, at time.Time) error {
	t := s.d.Time(at.UTC().Truncate(time.Microsecond))
	return s.execOne(ctx, q, "record sign-in", `UPDATE users
		SET last_login_at = CASE WHEN last_login_at IS NULL OR last_login_at < $1 THEN $2 ELSE last_login_at END
		WHERE tenant_id = $3 AND id = $4`, t, t, tenantID, userID)
}

// SetPasswordHash replaces userID's password hash with hash, which must be a hash of the
// same password (the login tier rehashes after a successful sign-in with weaker
// parameters). It changes neither Version nor UpdatedAt. A user that is not in tenantID
// is store.ErrNotFound.
func (s *Store) SetPasswordHash(ctx context.Context, tenantID, userID uuid.UUID, hash string) error {
	return s.retry(ctx, func() error { return s.setPasswordHash(ctx, s.db, tenantID, userID, hash) })
}

// SetPasswordHashTx is SetPasswordHash inside tx (a worker's ApplyCommand).
func (s *Store) SetPasswordHashTx(ctx context.Context, tx *sql.Tx, tenantID, userID uuid.UUID, hash string) error {
	return s.setPasswordHash(ctx, tx, tenantID, userID, hash)
}

func (s *Store) setPasswordHash(ctx context.Context, q querier, tenantID, userID uuid.UUID, hash string) error {
	return s.execOne(ctx, q, "set password hash", `UPDATE users SET password_hash = $1
		WHERE tenant_id = $2 AND id = $3`, hash, tenantID, userID)
}
