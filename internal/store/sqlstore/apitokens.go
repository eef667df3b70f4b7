package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/store"
)

const tokenCols = `id, tenant_id, name, digest, created_at, expires_at, scope`

func (s *Store) scanToken(r row) (apitoken.Token, error) {
	var (
		t        apitoken.Token
		tenantID uuid.NullUUID
	)
	err := r.Scan(&t.ID, &tenantID, &t.Name, &t.Digest, s.scanTime(&t.CreatedAt), s.scanTime(&t.ExpiresAt), &t.Scope)
	t.TenantID = tenantID.UUID // uuid.Nil when NULL: a global token
	return t, err
}

// CreateAPIToken stores t. t.TenantID uuid.Nil makes a global token; a tenant that does
// not exist is store.ErrNotFound. A zero ExpiresAt never expires; an empty Scope is
// stored (and returned) as apitoken.ScopeAdmin. A digest that is already stored is
// AlreadyExists("digest").
func (s *Store) CreateAPIToken(ctx context.Context, t apitoken.Token) (apitoken.Token, error) {
	id, err := newID(t.ID)
	if err != nil {
		return apitoken.Token{}, err
	}
	t.ID, t.CreatedAt = id, s.stamp()
	if t.Scope == "" {
		t.Scope = apitoken.ScopeAdmin
	}
	if !t.ExpiresAt.IsZero() {
		t.ExpiresAt = t.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	tenantID := uuid.NullUUID{UUID: t.TenantID, Valid: t.TenantID != uuid.Nil}
	_, err = s.exec(ctx, "create api token", `INSERT INTO api_tokens (`+tokenCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, tenantID, t.Name, t.Digest, s.d.Time(t.CreatedAt), s.timeArg(t.ExpiresAt), t.Scope)
	if err != nil {
		return apitoken.Token{}, err
	}
	return t, nil
}

// APITokenByDigest returns the token with digest, expired or not (the caller decides
// with Token.Expired).
func (s *Store) APITokenByDigest(ctx context.Context, digest []byte) (apitoken.Token, error) {
	t, err := s.scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE digest = $1`, digest))
	return t, s.readErr("api token by digest", err)
}

// ListAPITokens returns one page of every token, global and tenant-scoped, ordered by ID.
func (s *Store) ListAPITokens(ctx context.Context, opts store.ListOptions) (store.Page[apitoken.Token], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE id > $1 ORDER BY id LIMIT $2`, opts.After, opts.Limit+1)
	if err != nil {
		return store.Page[apitoken.Token]{}, s.readErr("list api tokens", err)
	}
	p, err := collect(rows, opts.Limit, s.scanToken, func(t apitoken.Token) uuid.UUID { return t.ID })
	return p, s.readErr("list api tokens", err)
}

// DeleteAPIToken removes the token id.
func (s *Store) DeleteAPIToken(ctx context.Context, id uuid.UUID) error {
	return s.deleteOne(ctx, "delete api token", `DELETE FROM api_tokens WHERE id = $1`, id)
}
