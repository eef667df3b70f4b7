package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/changes"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
)

// signingKeyJSON is one signing key as the admin API shows it: public parts only. The
// sealed private key never leaves the store through this API.
type signingKeyJSON struct {
	KID       string          `json:"kid"`
	Alg       keys.Alg        `json:"alg"`
	State     keys.State      `json:"state"`
	CreatedAt time.Time       `json:"created_at"`
	PublicJWK json.RawMessage `json:"public_jwk"`
}

type signingKeysJSON struct {
	Items         []signingKeyJSON `json:"items"`
	KeyGeneration int64            `json:"key_generation"`
}

func toSigningKeysJSON(ks []keys.Key, generation int64) signingKeysJSON {
	out := signingKeysJSON{Items: make([]signingKeyJSON, 0, len(ks)), KeyGeneration: generation}
	for _, k := range ks {
		out.Items = append(out.Items, signingKeyJSON{KID: k.ID, Alg: k.Alg, State: k.State,
			CreatedAt: k.CreatedAt, PublicJWK: json.RawMessage(k.PublicJWK)})
	}
	return out
}

func (a *API) listSigningKeys(c *call) error {
	ks, err := c.st.SigningKeys(c.r.Context(), c.tenant.ID)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, toSigningKeysJSON(ks, c.tenant.KeyGeneration))
}

// rotateSigningKeys runs one rotation (keys.Rotate): previous keys are dropped, current
// become previous, next become current, and new next keys are made. It takes no body (an
// empty JSON object is accepted). The tenant's own scoped token may rotate: rotation is
// what a tenant does after suspecting a key, and it affects that tenant only.
func (a *API) rotateSigningKeys(c *call) error {
	if c.r.ContentLength != 0 {
		var none struct{}
		if err := decode(c.w, c.r, a.maxBody, &none, mediaJSON); err != nil {
			return err
		}
	}
	ctx, id := c.r.Context(), c.tenant.ID
	ks, err := c.st.RotateSigningKeys(ctx, id, func(cur []keys.Key) ([]keys.Key, error) {
		return keys.Rotate(cur, id, a.kek)
	})
	if err != nil {
		return orNotFound(err, "tenant")
	}
	t, err := c.st.Tenant(ctx, id)
	if err != nil {
		return orNotFound(err, "tenant")
	}
	c.tenant = t
	a.audit(c, id.String())
	a.notify(ctx, changes.Change{Tenant: id, Kind: changes.Keys, Version: t.KeyGeneration})
	return writeJSON(c.w, http.StatusOK, toSigningKeysJSON(ks, t.KeyGeneration))
}

// ChangePublisher sends change notifications to the login tier (*changes.Publisher).
// Publish is best effort: it logs and counts its own failures.
type ChangePublisher interface {
	Publish(ctx context.Context, c changes.Change) error
}

// notify tells the login tier about a committed write, when the API has a publisher.
// Its error is ignored on purpose: the write is done, and a lost notification only
// leaves the login tier's cache to its TTL.
func (a *API) notify(ctx context.Context, c changes.Change) {
	if a.changes != nil {
		_ = a.changes.Publish(ctx, c)
	}
}

// KeyStore is what EnsureSigningKeys needs of the entity store (*sqlstore.Store).
type KeyStore interface {
	ListTenants(ctx context.Context, opts store.ListOptions) (store.Page[tenant.Tenant], error)
	SigningKeys(ctx context.Context, tenantID uuid.UUID) ([]keys.Key, error)
	TenantsWithIncompleteKeys(ctx context.Context, opts store.ListOptions) (store.Page[tenant.Tenant], error)
	CompleteSigningKeys(ctx context.Context, tenantID uuid.UUID, plan func(current []keys.Key) ([]keys.Key, error)) ([]keys.Key, error)
}

// maxEnsurePages bounds the walk over the tenants to complete (500 per page).
const maxEnsurePages = 1 << 20

// ErrKEKMismatch: the stored signing keys do not open with the configured KEK.
var ErrKEKMismatch = errors.New("admin: the stored signing keys do not open with the configured key-encryption key (NINES_KEK / NINES_KEK_FILE)")

// EnsureSigningKeys runs at start-up of the roles that own the primary (all, admin).
// First it checks that the existing signing keys open with kek (on the first of the
// first 500 tenants that has keys): a wrong KEK is reported at start-up, before it
// seals anything, not at the first sign-in. Then it gives every tenant without a
// complete key set (created without keys, or by a version before signing keys) the keys
// it lacks (keys.Complete). It is idempotent and safe to run from several processes at
// once (CompleteSigningKeys locks each tenant and changes nothing on a complete set).
func EnsureSigningKeys(ctx context.Context, st KeyStore, kek []byte) error {
	if err := keys.ValidateKEK(kek); err != nil {
		return err
	}
	if err := checkKEK(ctx, st, kek); err != nil {
		return err
	}
	opts := store.ListOptions{Limit: store.MaxLimit}
	for range maxEnsurePages {
		page, err := st.TenantsWithIncompleteKeys(ctx, opts)
		if err != nil {
			return fmt.Errorf("admin: ensure signing keys: %w", err)
		}
		for _, t := range page.Items {
			id := t.ID
			_, err := st.CompleteSigningKeys(ctx, id, func(cur []keys.Key) ([]keys.Key, error) {
				return keys.Complete(cur, id, kek)
			})
			if err != nil && !errors.Is(err, store.ErrNotFound) { // deleted meanwhile: nothing to do
				return fmt.Errorf("admin: ensure signing keys of tenant %s: %w", id, err)
			}
		}
		if page.Next == uuid.Nil {
			return nil
		}
		opts.After = page.Next
	}
	return fmt.Errorf("admin: ensure signing keys: more than %d pages of tenants", maxEnsurePages)
}

// checkKEK opens one stored key with kek. With no keys among the first page of tenants
// there is nothing to check against.
func checkKEK(ctx context.Context, st KeyStore, kek []byte) error {
	page, err := st.ListTenants(ctx, store.ListOptions{Limit: store.MaxLimit})
	if err != nil {
		return fmt.Errorf("admin: check the KEK: %w", err)
	}
	for _, t := range page.Items {
		ks, err := st.SigningKeys(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("admin: check the KEK: signing keys of tenant %s: %w", t.ID, err)
		}
		if len(ks) == 0 {
			continue
		}
		switch _, err := ks[0].Signer(kek); {
		case errors.Is(err, keys.ErrOpen):
			return ErrKEKMismatch
		case err != nil:
			return fmt.Errorf("admin: check the KEK: signing key %s of tenant %s: %w", ks[0].ID, t.ID, err)
		}
		return nil
	}
	return nil
}
