package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
)

var errKeysNeedTenantID = errors.New("sqlstore: signing keys are sealed for a tenant ID: set Tenant.ID before creating a tenant with keys")

const keyCols = `tenant_id, kid, alg, state, public_jwk, sealed, created_at`

func (s *Store) scanKey(r row) (keys.Key, error) {
	var k keys.Key
	err := r.Scan(&k.TenantID, &k.ID, &k.Alg, &k.State, &k.PublicJWK, &k.Sealed, s.scanTime(&k.CreatedAt))
	return k, err
}

// SigningKeys returns every signing key of tenantID (sealed: the caller opens them with
// the KEK), ordered by algorithm and state. A tenant without keys, or one that does not
// exist, has none: the result is empty, not an error.
func (s *Store) SigningKeys(ctx context.Context, tenantID uuid.UUID) ([]keys.Key, error) {
	return s.signingKeys(ctx, s.db, tenantID)
}

// SigningKeys returns every signing key of tenantID, as Store.SigningKeys does, from a
// replica: the login tier signs with the current keys and publishes the JWKS from these.
func (r *Reader) SigningKeys(ctx context.Context, tenantID uuid.UUID) ([]keys.Key, error) {
	return readOne(ctx, r, func(ctx context.Context, q querier) ([]keys.Key, error) {
		return r.s.signingKeys(ctx, q, tenantID)
	})
}

// SigningKeySet returns every signing key of tenantID, as SigningKeys does, together with
// the tenant's key_generation, from one replica: the generation is read first, so the
// keys are of that generation or a later one (a replica only moves forward). The login
// tier's key cache uses it to tell whether it holds the rotation a change notification
// announced. A tenant that does not exist has no keys and generation 0.
func (r *Reader) SigningKeySet(ctx context.Context, tenantID uuid.UUID) (ks []keys.Key, generation int64, err error) {
	err = r.read(ctx, func(ctx context.Context, q querier) error {
		generation = 0 // the router may run this again on another replica
		err := q.QueryRowContext(ctx, `SELECT key_generation FROM tenants WHERE id = $1`, tenantID).Scan(&generation)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return r.s.readErr("key generation", err)
		}
		ks, err = r.s.signingKeys(ctx, q, tenantID)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return ks, generation, nil
}

func (s *Store) signingKeys(ctx context.Context, q querier, tenantID uuid.UUID) ([]keys.Key, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+keyCols+` FROM signing_keys
		WHERE tenant_id = $1 ORDER BY alg, state`, tenantID)
	if err != nil {
		return nil, s.readErr("signing keys", err)
	}
	ks, err := all(rows, s.scanKey)
	return ks, s.readErr("signing keys", err)
}

// RotateSigningKeys replaces tenantID's signing keys with what plan makes of the current
// ones (keys.Rotate) and increments the tenant's KeyGeneration (not its Version), in one
// transaction. The transaction first updates the tenant's row, which locks it (a row
// lock on PostgreSQL, the single writer on SQLite), so concurrent rotations run one
// after the other and each plans from the set the previous one committed. plan runs
// inside the transaction and may run more than once (on a retryable failure); it must
// have no effect outside its result. The result must be a valid set of the tenant's keys
// (keys.ValidateSet). A missing tenant is store.ErrNotFound; a kid that another tenant
// holds is AlreadyExists("kid"). It returns the stored set.
func (s *Store) RotateSigningKeys(ctx context.Context, tenantID uuid.UUID, plan func(current []keys.Key) ([]keys.Key, error)) ([]keys.Key, error) {
	return s.replaceKeys(ctx, "rotate signing keys", tenantID, 1, plan)
}

// CompleteSigningKeys is RotateSigningKeys without the new generation: for a tenant whose
// set is incomplete (created without keys, or by an older version), plan (keys.Complete)
// adds what is missing. When plan returns the current set unchanged, nothing is written.
func (s *Store) CompleteSigningKeys(ctx context.Context, tenantID uuid.UUID, plan func(current []keys.Key) ([]keys.Key, error)) ([]keys.Key, error) {
	return s.replaceKeys(ctx, "complete signing keys", tenantID, 0, plan)
}

func (s *Store) replaceKeys(ctx context.Context, op string, tenantID uuid.UUID, bump int64, plan func([]keys.Key) ([]keys.Key, error)) ([]keys.Key, error) {
	var out []keys.Key
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		// Writing the tenant's row first takes the lock the rest of the transaction relies
		// on; "+ 0" still locks it.
		var gen int64
		err := tx.QueryRowContext(ctx, `UPDATE tenants SET key_generation = key_generation + $1
			WHERE id = $2 RETURNING key_generation`, bump, tenantID).Scan(&gen)
		if err != nil {
			return s.readErr(op, err)
		}
		current, err := s.signingKeys(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		next, err := plan(current)
		if err != nil {
			return fmt.Errorf("sqlstore: %s: plan: %w", op, err)
		}
		if err := keys.ValidateSet(next, tenantID); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		if bump == 0 && sameKeys(current, next) {
			out = current
			return nil
		}
		// The whole set is replaced: kept keys are written back as they were (sealed bytes
		// and creation time included), which sidesteps the order in which states would
		// otherwise have to move under UNIQUE (tenant_id, alg, state).
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE tenant_id = $1`, tenantID); err != nil {
			return s.writeErr(op, err)
		}
		if err := s.insertKeys(ctx, tx, next); err != nil {
			return err
		}
		out, err = s.signingKeys(ctx, tx, tenantID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertKeys writes ks, all of one tenant, in tx. A kid that exists is
// AlreadyExists("kid"), checked before the insert so that both dialects say the same.
func (s *Store) insertKeys(ctx context.Context, tx *sql.Tx, ks []keys.Key) error {
	for _, k := range ks {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM signing_keys WHERE kid = $1`, k.ID).Scan(&one)
		switch {
		case err == nil:
			return store.AlreadyExists("kid")
		case !errors.Is(err, sql.ErrNoRows):
			return s.readErr("check kid", err)
		}
		created := k.CreatedAt
		if created.IsZero() {
			created = s.stamp()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (`+keyCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.TenantID, k.ID, k.Alg, k.State, string(k.PublicJWK), k.Sealed, s.d.Time(created.UTC().Truncate(time.Microsecond)))
		if err != nil {
			return s.writeErr("insert signing key", err)
		}
	}
	return nil
}

// sameKeys reports whether a and b hold the same kids in the same states.
func sameKeys(a, b []keys.Key) bool {
	if len(a) != len(b) {
		return false
	}
	state := make(map[string]keys.State, len(a))
	for _, k := range a {
		state[k.ID] = k.State
	}
	for _, k := range b {
		if st, ok := state[k.ID]; !ok || st != k.State {
			return false
		}
	}
	return true
}

// TenantsWithIncompleteKeys returns one page, ordered by ID, of the tenants that lack a
// current or a next key for some algorithm of keys.Algs: tenants created without keys
// (CreateTenant, or a version before signing keys). Start-up maintenance completes them
// with CompleteSigningKeys.
func (s *Store) TenantsWithIncompleteKeys(ctx context.Context, opts store.ListOptions) (store.Page[tenant.Tenant], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+prefixed("t.", tenantCols)+` FROM tenants t
		WHERE t.id > $1 AND (SELECT count(*) FROM signing_keys k
			WHERE k.tenant_id = t.id AND k.state IN ($2, $3)) < $4
		ORDER BY t.id LIMIT $5`,
		opts.After, keys.Current, keys.Next, 2*len(keys.Algs), opts.Limit+1)
	if err != nil {
		return store.Page[tenant.Tenant]{}, s.readErr("tenants with incomplete keys", err)
	}
	p, err := collect(rows, opts.Limit, s.scanTenant, func(t tenant.Tenant) uuid.UUID { return t.ID })
	return p, s.readErr("tenants with incomplete keys", err)
}
