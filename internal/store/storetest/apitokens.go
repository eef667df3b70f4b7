package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

func testAPITokens(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)

	global := res(s.CreateAPIToken(ctx, newToken(uuid.Nil, "global"))).must(t)
	if !global.Global() || global.ID == uuid.Nil {
		t.Errorf("CreateAPIToken(global) = %+v, want a global token with an ID", global)
	}
	checkStamp(t, "CreatedAt", global.CreatedAt)
	if global.Scope != apitoken.ScopeAdmin {
		t.Errorf("CreateAPIToken without a scope: Scope = %q, want %q", global.Scope, apitoken.ScopeAdmin)
	}
	if !global.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt = %v, want zero (never)", global.ExpiresAt)
	}
	wantSame(t, "APITokenByDigest(global)", global, res(s.APITokenByDigest(ctx, global.Digest)).must(t))

	in := newToken(tn.ID, "scoped")
	in.ExpiresAt = time.Date(2031, 2, 3, 4, 5, 6, 789_123_000, time.UTC)
	scoped := res(s.CreateAPIToken(ctx, in)).must(t)
	if scoped.TenantID != tn.ID || !scoped.ExpiresAt.Equal(in.ExpiresAt) {
		t.Errorf("CreateAPIToken(scoped) = %+v, want tenant %v and expiry %v", scoped, tn.ID, in.ExpiresAt)
	}
	wantSame(t, "APITokenByDigest(scoped)", scoped, res(s.APITokenByDigest(ctx, scoped.Digest)).must(t))

	prov := newToken(uuid.Nil, "provisioning")
	prov.Scope = apitoken.ScopeProvision
	provisioning := res(s.CreateAPIToken(ctx, prov)).must(t)
	if provisioning.Scope != apitoken.ScopeProvision || !provisioning.Global() {
		t.Errorf("CreateAPIToken(provision) = %+v, want a global provision token", provisioning)
	}
	wantSame(t, "APITokenByDigest(provision)", provisioning, res(s.APITokenByDigest(ctx, provisioning.Digest)).must(t))

	page := res(s.ListAPITokens(ctx, store.ListOptions{})).must(t)
	wantSame(t, "ListAPITokens", tokenIDs(global, scoped, provisioning), tokenIDs(page.Items...))
	scopes := map[uuid.UUID]apitoken.Scope{}
	for _, tok := range page.Items {
		scopes[tok.ID] = tok.Scope
	}
	wantSame(t, "ListAPITokens scopes", map[uuid.UUID]apitoken.Scope{global.ID: apitoken.ScopeAdmin,
		scoped.ID: apitoken.ScopeAdmin, provisioning.ID: apitoken.ScopeProvision}, scopes)

	dup := newToken(uuid.Nil, "dup")
	dup.Digest = global.Digest
	_, err := s.CreateAPIToken(ctx, dup)
	wantExists(t, "CreateAPIToken with a stored digest", err, "digest")
	dup = newToken(uuid.Nil, "dup")
	dup.ID = global.ID
	_, err = s.CreateAPIToken(ctx, dup)
	wantExists(t, "CreateAPIToken with a stored ID", err, "id")

	mustDo(t, s.DeleteAPIToken(ctx, global.ID))
	_, err = s.APITokenByDigest(ctx, global.Digest)
	wantErr(t, "APITokenByDigest after delete", err, store.ErrNotFound)

	tests := []struct {
		name string
		call func() error
	}{
		{"CreateAPIToken in a missing tenant", func() error {
			_, err := s.CreateAPIToken(ctx, newToken(randomID(), "x"))
			return err
		}},
		{"APITokenByDigest", func() error { _, err := s.APITokenByDigest(ctx, apitoken.Digest("nope")); return err }},
		{"DeleteAPIToken", func() error { return s.DeleteAPIToken(ctx, global.ID) }},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}

func tokenIDs(ts ...apitoken.Token) []uuid.UUID {
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	sortIDs(ids)
	return ids
}
