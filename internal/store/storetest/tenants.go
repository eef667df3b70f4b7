package storetest

import (
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
)

func testTenants(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	in := newTenant("acme")
	got := res(s.CreateTenant(ctx, in)).must(t)
	if got.ID.Version() != 7 {
		t.Errorf("new tenant ID %v is not a UUIDv7", got.ID)
	}
	if got.Version != 1 || got.Slug != in.Slug || got.DisplayName != in.DisplayName || got.Status != in.Status {
		t.Errorf("CreateTenant = %+v, want the input with Version 1", got)
	}
	checkStamp(t, "CreatedAt", got.CreatedAt)
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdatedAt %v != CreatedAt %v on create", got.UpdatedAt, got.CreatedAt)
	}
	wantSame(t, "Tenant", got, res(s.Tenant(ctx, got.ID)).must(t))
	wantSame(t, "TenantBySlug", got, res(s.TenantBySlug(ctx, "acme")).must(t))

	if got.PrimaryColor != in.PrimaryColor || got.Lockout != in.Lockout || got.KeyGeneration != 0 ||
		got.UserImport != in.UserImport || !got.UserImport.Enabled() {
		t.Errorf("CreateTenant = %+v, want colour, lockout, user import and key generation 0", got)
	}
	wantSame(t, "Reader.TenantBySlug", got, res(s.Reader().TenantBySlug(ctx, "acme")).must(t))

	upd := got
	upd.DisplayName, upd.Status, upd.Slug = "Acme Corp", tenant.StatusDisabled, "renamed"
	upd.PrimaryColor, upd.Lockout = "", tenant.LockoutPolicy{Threshold: 3, Duration: 86400 * time.Second}
	upd.UserImport = tenant.UserImport{URL: "http://127.0.0.1:9/other"}
	upd.KeyGeneration = 99 // only rotation changes it: ignored
	after := res(s.UpdateTenant(ctx, upd)).must(t)
	if after.Version != 2 || after.DisplayName != "Acme Corp" || after.Status != tenant.StatusDisabled ||
		after.PrimaryColor != "" || after.Lockout != upd.Lockout || after.KeyGeneration != 0 || after.UserImport != upd.UserImport {
		t.Errorf("UpdateTenant = %+v, want new display name, status, colour, lockout and user import at version 2", after)
	}
	if after.Slug != "acme" {
		t.Errorf("UpdateTenant changed the immutable slug to %q", after.Slug)
	}
	if !after.CreatedAt.Equal(got.CreatedAt) || after.UpdatedAt.Before(got.UpdatedAt) {
		t.Errorf("UpdateTenant times = %v/%v, want CreatedAt kept and UpdatedAt not earlier", after.CreatedAt, after.UpdatedAt)
	}
	checkStamp(t, "UpdatedAt", after.UpdatedAt)
	wantSame(t, "Tenant after update", after, res(s.Tenant(ctx, got.ID)).must(t))
	wantSame(t, "Reader.Tenant after update", after, res(s.Reader().Tenant(ctx, got.ID)).must(t))
	off := after
	off.UserImport = tenant.UserImport{}
	after = res(s.UpdateTenant(ctx, off)).must(t)
	if after.UserImport.Enabled() || after.Version != 3 {
		t.Errorf("UpdateTenant without user import = %+v, want it cleared at version 3", after)
	}
	wantSame(t, "Tenant after clearing the user import", after, res(s.Tenant(ctx, got.ID)).must(t))

	mustDo(t, s.DeleteTenant(ctx, got.ID))
	_, err := s.Tenant(ctx, got.ID)
	wantErr(t, "Tenant after delete", err, store.ErrNotFound)
	_, err = s.TenantBySlug(ctx, "acme")
	wantErr(t, "TenantBySlug after delete", err, store.ErrNotFound)

	tests := []struct {
		name string
		call func() error
	}{
		{"Tenant", func() error { _, err := s.Tenant(ctx, randomID()); return err }},
		{"TenantBySlug", func() error { _, err := s.TenantBySlug(ctx, "nope"); return err }},
		{"UpdateTenant", func() error {
			t := newTenant("x")
			t.ID, t.Version = randomID(), 1
			_, err := s.UpdateTenant(ctx, t)
			return err
		}},
		{"DeleteTenant", func() error { return s.DeleteTenant(ctx, got.ID) }},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}

func testTenantUniqueKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	a := mkTenant(t, s)
	tests := []struct {
		name  string
		in    tenant.Tenant
		field string
	}{
		{"slug", newTenant(a.Slug), "slug"},
		{"id", func() tenant.Tenant { x := newTenant(unique("t")); x.ID = a.ID; return x }(), "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateTenant(ctx, tc.in)
			wantExists(t, "CreateTenant", err, tc.field)
		})
	}
	wantSame(t, "tenant after collisions", a, res(s.Tenant(ctx, a.ID)).must(t))
}
