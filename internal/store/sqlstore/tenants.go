package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
)

const tenantCols = `id, slug, display_name, status, version, created_at, updated_at`

func (s *Store) scanTenant(r row) (tenant.Tenant, error) {
	var t tenant.Tenant
	err := r.Scan(&t.ID, &t.Slug, &t.DisplayName, &t.Status, &t.Version,
		s.scanTime(&t.CreatedAt), s.scanTime(&t.UpdatedAt))
	return t, err
}

// CreateTenant stores a new tenant with Version 1. A taken slug is AlreadyExists("slug").
func (s *Store) CreateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	id, err := newID(t.ID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	now := s.stamp()
	t.ID, t.Version, t.CreatedAt, t.UpdatedAt = id, 1, now, now
	_, err = s.exec(ctx, "create tenant", `INSERT INTO tenants (`+tenantCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.Slug, t.DisplayName, t.Status, t.Version, s.d.Time(now), s.d.Time(now))
	if err != nil {
		return tenant.Tenant{}, err
	}
	return t, nil
}

// Tenant returns the tenant with id.
func (s *Store) Tenant(ctx context.Context, id uuid.UUID) (tenant.Tenant, error) {
	return s.tenantByID(ctx, s.db, id)
}

// TenantBySlug returns the tenant with slug.
func (s *Store) TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error) {
	return s.tenantBySlug(ctx, s.db, slug)
}

func (s *Store) tenantByID(ctx context.Context, q querier, id uuid.UUID) (tenant.Tenant, error) {
	t, err := s.scanTenant(q.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = $1`, id))
	return t, readErr("tenant", err)
}

func (s *Store) tenantBySlug(ctx context.Context, q querier, slug string) (tenant.Tenant, error) {
	t, err := s.scanTenant(q.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE slug = $1`, slug))
	return t, readErr("tenant by slug", err)
}

// ListTenants returns one page of every tenant, ordered by ID.
func (s *Store) ListTenants(ctx context.Context, opts store.ListOptions) (store.Page[tenant.Tenant], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+tenantCols+` FROM tenants
		WHERE id > $1 ORDER BY id LIMIT $2`, opts.After, opts.Limit+1)
	if err != nil {
		return store.Page[tenant.Tenant]{}, readErr("list tenants", err)
	}
	p, err := collect(rows, opts.Limit, s.scanTenant, func(t tenant.Tenant) uuid.UUID { return t.ID })
	return p, readErr("list tenants", err)
}

// UpdateTenant stores t's DisplayName and Status if t.Version is current (the slug is
// immutable) and returns the stored tenant with the next version.
func (s *Store) UpdateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	return update(ctx, s, versioned{
		op: "update tenant",
		update: `UPDATE tenants
			SET display_name = $1, status = $2, version = version + 1, updated_at = $3
			WHERE id = $4 AND version = $5
			RETURNING ` + tenantCols,
		args:   []any{t.DisplayName, t.Status, s.d.Time(s.stamp()), t.ID, t.Version},
		exists: `SELECT 1 FROM tenants WHERE id = $1`,
		key:    []any{t.ID},
	}, s.scanTenant)
}

// DeleteTenant removes the tenant and, by cascade, everything that belongs to it:
// users, groups, memberships, applications and its API tokens.
func (s *Store) DeleteTenant(ctx context.Context, id uuid.UUID) error {
	return s.deleteOne(ctx, "delete tenant", `DELETE FROM tenants WHERE id = $1`, id)
}
