package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
)

const tenantCols = `id, slug, display_name, status, primary_color, lockout_threshold,
	lockout_duration_seconds, key_generation, version, created_at, updated_at, user_import_url`

func (s *Store) scanTenant(r row) (tenant.Tenant, error) {
	var (
		t       tenant.Tenant
		seconds int64
	)
	err := r.Scan(&t.ID, &t.Slug, &t.DisplayName, &t.Status, &t.PrimaryColor, &t.Lockout.Threshold,
		&seconds, &t.KeyGeneration, &t.Version, s.scanTime(&t.CreatedAt), s.scanTime(&t.UpdatedAt), &t.UserImport.URL)
	t.Lockout.Duration = time.Duration(seconds) * time.Second
	return t, err
}

// CreateTenant stores a new tenant with Version 1 and no signing keys (CompleteSigningKeys
// gives it a set later). Prefer CreateTenantWithKeys, which creates both at once.
func (s *Store) CreateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	return s.CreateTenantWithKeys(ctx, t, nil)
}

// CreateTenantWithKeys stores a new tenant with Version 1 and KeyGeneration 0 together
// with its first signing keys, in one transaction: the tenant never exists without them.
// The keys are sealed for the tenant's ID, so t.ID must be set when ks is not empty, and
// every key must belong to it (keys.ValidateSet). A taken slug is AlreadyExists("slug").
// The lockout duration is stored in whole seconds.
func (s *Store) CreateTenantWithKeys(ctx context.Context, t tenant.Tenant, ks []keys.Key) (tenant.Tenant, error) {
	if len(ks) > 0 && t.ID == uuid.Nil {
		return tenant.Tenant{}, errKeysNeedTenantID
	}
	id, err := newID(t.ID)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if err := keys.ValidateSet(ks, id); err != nil {
		return tenant.Tenant{}, err
	}
	now := s.stamp()
	t.ID, t.Version, t.KeyGeneration, t.CreatedAt, t.UpdatedAt = id, 1, 0, now, now
	t.Lockout.Duration = t.Lockout.Duration.Truncate(time.Second)
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (`+tenantCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			t.ID, t.Slug, t.DisplayName, t.Status, t.PrimaryColor, t.Lockout.Threshold,
			int64(t.Lockout.Duration/time.Second), t.KeyGeneration, t.Version, s.d.Time(now), s.d.Time(now), t.UserImport.URL)
		if err != nil {
			return s.writeErr("create tenant", err)
		}
		return s.insertKeys(ctx, tx, ks)
	})
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
	return t, s.readErr("tenant", err)
}

func (s *Store) tenantBySlug(ctx context.Context, q querier, slug string) (tenant.Tenant, error) {
	t, err := s.scanTenant(q.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE slug = $1`, slug))
	return t, s.readErr("tenant by slug", err)
}

// ListTenants returns one page of every tenant, ordered by ID.
func (s *Store) ListTenants(ctx context.Context, opts store.ListOptions) (store.Page[tenant.Tenant], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+tenantCols+` FROM tenants
		WHERE id > $1 ORDER BY id LIMIT $2`, opts.After, opts.Limit+1)
	if err != nil {
		return store.Page[tenant.Tenant]{}, s.readErr("list tenants", err)
	}
	p, err := collect(rows, opts.Limit, s.scanTenant, func(t tenant.Tenant) uuid.UUID { return t.ID })
	return p, s.readErr("list tenants", err)
}

// UpdateTenant stores t's DisplayName, Status, PrimaryColor, Lockout and UserImport if t.Version is
// current (the slug is immutable; KeyGeneration changes only by rotation) and returns the
// stored tenant with the next version.
func (s *Store) UpdateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	return update(ctx, s, versioned{
		op: "update tenant",
		update: `UPDATE tenants
			SET display_name = $1, status = $2, primary_color = $3, lockout_threshold = $4,
				lockout_duration_seconds = $5, user_import_url = $6, version = version + 1, updated_at = $7
			WHERE id = $8 AND version = $9
			RETURNING ` + tenantCols,
		args: []any{t.DisplayName, t.Status, t.PrimaryColor, t.Lockout.Threshold,
			int64(t.Lockout.Duration / time.Second), t.UserImport.URL, s.d.Time(s.stamp()), t.ID, t.Version},
		exists: `SELECT 1 FROM tenants WHERE id = $1`,
		key:    []any{t.ID},
	}, s.scanTenant)
}

// DeleteTenant removes the tenant and, by cascade, everything that belongs to it:
// users, groups, memberships, applications, signing keys and its API tokens.
func (s *Store) DeleteTenant(ctx context.Context, id uuid.UUID) error {
	return s.deleteOne(ctx, "delete tenant", `DELETE FROM tenants WHERE id = $1`, id)
}
