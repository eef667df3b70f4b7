package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/store"
)

const appCols = `tenant_id, id, client_id, client_name, type, secret_digest, redirect_uris,
	post_logout_redirect_uris, grant_types, response_types, token_endpoint_auth_method,
	id_token_signed_response_alg, jwks, version, created_at, updated_at`

func (s *Store) scanApp(r row) (client.Application, error) {
	var a client.Application
	err := r.Scan(&a.TenantID, &a.ID, &a.ClientID, &a.ClientName, &a.Type, &a.SecretDigest,
		jsonList{&a.RedirectURIs}, jsonList{&a.PostLogoutRedirectURIs}, jsonList{&a.GrantTypes},
		jsonList{&a.ResponseTypes}, &a.TokenEndpointAuthMethod, &a.IDTokenSignedResponseAlg,
		&a.JWKS, &a.Version, s.scanTime(&a.CreatedAt), s.scanTime(&a.UpdatedAt))
	if len(a.SecretDigest) == 0 {
		a.SecretDigest = nil
	}
	if len(a.JWKS) == 0 {
		a.JWKS = nil
	}
	return a, err
}

// jwksArg stores a client's JWKS as JSON text, or NULL when it has none.
func jwksArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// appLists is the JSON text of a's four lists, in column order.
func appLists(a client.Application) ([]any, error) {
	out := make([]any, 0, 4)
	for _, l := range [][]string{a.RedirectURIs, a.PostLogoutRedirectURIs, a.GrantTypes, a.ResponseTypes} {
		j, err := jsonArg(l)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// emptyLists makes a's nil lists empty, as they read back.
func emptyLists(a *client.Application) {
	for _, l := range []*[]string{&a.RedirectURIs, &a.PostLogoutRedirectURIs, &a.GrantTypes, &a.ResponseTypes} {
		if *l == nil {
			*l = []string{}
		}
	}
}

// CreateApplication stores a in tenantID with Version 1. A taken client_id is
// AlreadyExists("client_id"). An empty SecretDigest is stored as none (nil).
func (s *Store) CreateApplication(ctx context.Context, tenantID uuid.UUID, a client.Application) (client.Application, error) {
	id, err := newID(a.ID)
	if err != nil {
		return client.Application{}, err
	}
	lists, err := appLists(a)
	if err != nil {
		return client.Application{}, s.writeErr("create application", err)
	}
	now := s.stamp()
	a.ID, a.TenantID, a.Version, a.CreatedAt, a.UpdatedAt = id, tenantID, 1, now, now
	emptyLists(&a)
	if len(a.SecretDigest) == 0 {
		a.SecretDigest = nil
	}
	if len(a.JWKS) == 0 {
		a.JWKS = nil
	}
	_, err = s.exec(ctx, "create application", `INSERT INTO applications (`+appCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		a.TenantID, a.ID, a.ClientID, a.ClientName, a.Type, bytesArg(a.SecretDigest),
		lists[0], lists[1], lists[2], lists[3], a.TokenEndpointAuthMethod,
		a.IDTokenSignedResponseAlg, jwksArg(a.JWKS), a.Version, s.d.Time(now), s.d.Time(now))
	if err != nil {
		return client.Application{}, err
	}
	return a, nil
}

// Application returns the application id of tenantID.
func (s *Store) Application(ctx context.Context, tenantID, id uuid.UUID) (client.Application, error) {
	a, err := s.scanApp(s.db.QueryRowContext(ctx, `SELECT `+appCols+` FROM applications
		WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return a, s.readErr("application", err)
}

// ApplicationByClientID returns the application of tenantID with clientID.
func (s *Store) ApplicationByClientID(ctx context.Context, tenantID uuid.UUID, clientID string) (client.Application, error) {
	return s.appByClientID(ctx, s.db, tenantID, clientID)
}

func (s *Store) appByClientID(ctx context.Context, q querier, tenantID uuid.UUID, clientID string) (client.Application, error) {
	a, err := s.scanApp(q.QueryRowContext(ctx, `SELECT `+appCols+` FROM applications
		WHERE tenant_id = $1 AND client_id = $2`, tenantID, clientID))
	return a, s.readErr("application by client id", err)
}

// ListApplications returns one page of tenantID's applications, ordered by ID.
func (s *Store) ListApplications(ctx context.Context, tenantID uuid.UUID, opts store.ListOptions) (store.Page[client.Application], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+appCols+` FROM applications
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, opts.After, opts.Limit+1)
	if err != nil {
		return store.Page[client.Application]{}, s.readErr("list applications", err)
	}
	p, err := collect(rows, opts.Limit, s.scanApp, func(a client.Application) uuid.UUID { return a.ID })
	return p, s.readErr("list applications", err)
}

// UpdateApplication stores every mutable field of a (not ClientID or Type, which are
// immutable) if a.Version is current, and returns the stored application with the next
// version.
func (s *Store) UpdateApplication(ctx context.Context, tenantID uuid.UUID, a client.Application) (client.Application, error) {
	lists, err := appLists(a)
	if err != nil {
		return client.Application{}, s.writeErr("update application", err)
	}
	return update(ctx, s, versioned{
		op: "update application",
		update: `UPDATE applications
			SET client_name = $1, secret_digest = $2, redirect_uris = $3,
				post_logout_redirect_uris = $4, grant_types = $5, response_types = $6,
				token_endpoint_auth_method = $7, id_token_signed_response_alg = $8, jwks = $9,
				version = version + 1, updated_at = $10
			WHERE tenant_id = $11 AND id = $12 AND version = $13
			RETURNING ` + appCols,
		args: []any{a.ClientName, bytesArg(a.SecretDigest), lists[0], lists[1], lists[2], lists[3],
			a.TokenEndpointAuthMethod, a.IDTokenSignedResponseAlg, jwksArg(a.JWKS),
			s.d.Time(s.stamp()), tenantID, a.ID, a.Version},
		exists: `SELECT 1 FROM applications WHERE tenant_id = $1 AND id = $2`,
		key:    []any{tenantID, a.ID},
	}, s.scanApp)
}

// DeleteApplication removes the application id of tenantID.
func (s *Store) DeleteApplication(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.deleteOne(ctx, "delete application",
		`DELETE FROM applications WHERE tenant_id = $1 AND id = $2`, tenantID, id)
}
