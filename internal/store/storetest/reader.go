package storetest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/user"
)

// testReader: every Reader method answers what the Store answers, including not-found.
func testReader(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	r := s.Reader()
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "alice@example.com")
	loner := mkUser(t, s, tn.ID, "loner", "")
	g := mkGroup(t, s, tn.ID, "g")
	mustDo(t, s.AddMember(ctx, tn.ID, g.ID, u.ID))
	app := mkApp(t, s, tn.ID, "web")

	wantSame(t, "Tenant", tn, res(r.Tenant(ctx, tn.ID)).must(t))
	wantSame(t, "TenantBySlug", tn, res(r.TenantBySlug(ctx, tn.Slug)).must(t))
	wantSame(t, "User", u, res(r.User(ctx, tn.ID, u.ID)).must(t))
	wantSame(t, "UserByUsername", u, res(r.UserByUsername(ctx, tn.ID, "alice")).must(t))
	wantSame(t, "UserByEmail", u, res(r.UserByEmail(ctx, tn.ID, "alice@example.com")).must(t))
	wantSame(t, "GroupsOfUser", []user.Group{g}, res(r.GroupsOfUser(ctx, tn.ID, u.ID)).must(t))
	if gs := res(r.GroupsOfUser(ctx, tn.ID, loner.ID)).must(t); gs == nil || len(gs) != 0 {
		t.Errorf("GroupsOfUser(loner) = %#v, want an empty non-nil slice", gs)
	}
	wantSame(t, "ApplicationByClientID", app, res(r.ApplicationByClientID(ctx, tn.ID, "web")).must(t))

	tests := []struct {
		name string
		call func() error
	}{
		{"Tenant", func() error { _, err := r.Tenant(ctx, randomID()); return err }},
		{"TenantBySlug", func() error { _, err := r.TenantBySlug(ctx, "nope"); return err }},
		{"User", func() error { _, err := r.User(ctx, tn.ID, randomID()); return err }},
		{"UserByUsername", func() error { _, err := r.UserByUsername(ctx, tn.ID, "nope"); return err }},
		{"UserByEmail", func() error { _, err := r.UserByEmail(ctx, tn.ID, "nope@example.com"); return err }},
		{"UserByEmail empty", func() error { _, err := r.UserByEmail(ctx, tn.ID, ""); return err }},
		{"GroupsOfUser", func() error { _, err := r.GroupsOfUser(ctx, tn.ID, randomID()); return err }},
		{"ApplicationByClientID", func() error { _, err := r.ApplicationByClientID(ctx, tn.ID, "nope"); return err }},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}

// testReaderHasNoWrites guards the tier split: the login tier's Reader must have no
// method whose name says it writes.
func testReaderHasNoWrites(t *testing.T, s *sqlstore.Store) {
	writeVerbs := []string{"Create", "Update", "Delete", "Add", "Remove", "Set", "Put", "Insert",
		"Save", "Exec", "InTx", "Tx", "Migrate", "Store"}
	typ := reflect.TypeOf(s.Reader())
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		for _, v := range writeVerbs {
			if strings.HasPrefix(name, v) {
				t.Errorf("Reader has method %s, which looks like a write; the login tier must not be able to write", name)
			}
		}
	}
	if typ.NumMethod() == 0 {
		t.Error("Reader has no methods at all")
	}
}
