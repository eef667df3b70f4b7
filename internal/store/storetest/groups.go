package storetest

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/user"
)

func testGroups(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	in := newGroup("Admins")
	in.TenantID = randomID() // must be overridden by the argument
	got := res(s.CreateGroup(ctx, tn.ID, in)).must(t)
	want := in
	want.ID, want.TenantID, want.Version, want.CreatedAt, want.UpdatedAt = got.ID, tn.ID, 1, got.CreatedAt, got.CreatedAt
	wantSame(t, "CreateGroup", want, got)
	checkStamp(t, "CreatedAt", got.CreatedAt)
	wantSame(t, "Group", got, res(s.Group(ctx, tn.ID, got.ID)).must(t))
	wantSame(t, "GroupByName", got, res(s.GroupByName(ctx, tn.ID, "Admins")).must(t))

	upd := got
	upd.Name, upd.Description = "Operators", "runs things"
	after := res(s.UpdateGroup(ctx, tn.ID, upd)).must(t)
	want = upd
	want.Version, want.UpdatedAt = 2, after.UpdatedAt
	wantSame(t, "UpdateGroup", want, after)
	wantSame(t, "Group after update", after, res(s.Group(ctx, tn.ID, got.ID)).must(t))
	_, err := s.GroupByName(ctx, tn.ID, "Admins")
	wantErr(t, "GroupByName of the old name", err, store.ErrNotFound)

	mustDo(t, s.DeleteGroup(ctx, tn.ID, got.ID))
	_, err = s.Group(ctx, tn.ID, got.ID)
	wantErr(t, "Group after delete", err, store.ErrNotFound)

	tests := []struct {
		name string
		call func() error
	}{
		{"Group", func() error { _, err := s.Group(ctx, tn.ID, randomID()); return err }},
		{"GroupByName", func() error { _, err := s.GroupByName(ctx, tn.ID, "nope"); return err }},
		{"UpdateGroup", func() error { _, err := s.UpdateGroup(ctx, tn.ID, upd); return err }},
		{"DeleteGroup", func() error { return s.DeleteGroup(ctx, tn.ID, got.ID) }},
		{"CreateGroup in a missing tenant", func() error {
			_, err := s.CreateGroup(ctx, randomID(), newGroup("x"))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}

func testGroupUniqueKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	a := mkGroup(t, s, tn.ID, "Admins")
	b := mkGroup(t, s, tn.ID, "Users")
	withID := newGroup("Other")
	withID.ID = a.ID
	tests := []struct {
		name  string
		in    user.Group
		field string
	}{
		{"name", newGroup("Admins"), "name"},
		{"id", withID, "id"},
	}
	for _, tc := range tests {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := s.CreateGroup(ctx, tn.ID, tc.in)
			wantExists(t, "CreateGroup", err, tc.field)
		})
	}
	t.Run("update/name", func(t *testing.T) {
		g := b
		g.Name = "Admins"
		_, err := s.UpdateGroup(ctx, tn.ID, g)
		wantExists(t, "UpdateGroup", err, "name")
	})
	wantSame(t, "group after collisions", b, res(s.Group(ctx, tn.ID, b.ID)).must(t))
	mkGroup(t, s, mkTenant(t, s).ID, "Admins") // names are unique per tenant only
}

func testMembers(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	alice := mkUser(t, s, tn.ID, "alice", "")
	bob := mkUser(t, s, tn.ID, "bob", "")
	loner := mkUser(t, s, tn.ID, "loner", "")
	zeta := mkGroup(t, s, tn.ID, "zeta")
	alpha := mkGroup(t, s, tn.ID, "alpha")
	empty := mkGroup(t, s, tn.ID, "empty")

	for _, m := range []struct{ g, u uuid.UUID }{{zeta.ID, alice.ID}, {alpha.ID, alice.ID}, {zeta.ID, bob.ID}} {
		mustDo(t, s.AddMember(ctx, tn.ID, m.g, m.u))
	}
	wantExists(t, "AddMember twice", s.AddMember(ctx, tn.ID, zeta.ID, alice.ID), "user_id")

	wantSame(t, "GroupsOfUser(alice), ordered by name", []user.Group{alpha, zeta},
		res(s.GroupsOfUser(ctx, tn.ID, alice.ID)).must(t))
	groups := res(s.GroupsOfUser(ctx, tn.ID, loner.ID)).must(t)
	if groups == nil || len(groups) != 0 {
		t.Errorf("GroupsOfUser(loner) = %#v, want an empty non-nil slice", groups)
	}
	members := res(s.ListMembers(ctx, tn.ID, zeta.ID, store.ListOptions{})).must(t)
	wantSame(t, "ListMembers(zeta)", idsOf([]user.User{alice, bob}), idsOf(members.Items))
	wantSame(t, "ListMembers(zeta) items", sortedByID([]user.User{alice, bob}), members.Items)
	if members.Next != uuid.Nil {
		t.Errorf("ListMembers Next = %v on the only page", members.Next)
	}
	if p := res(s.ListMembers(ctx, tn.ID, empty.ID, store.ListOptions{})).must(t); p.Items == nil || len(p.Items) != 0 {
		t.Errorf("ListMembers(empty) = %#v, want an empty non-nil slice", p.Items)
	}

	mustDo(t, s.RemoveMember(ctx, tn.ID, zeta.ID, alice.ID))
	wantSame(t, "GroupsOfUser(alice) after remove", []user.Group{alpha}, res(s.GroupsOfUser(ctx, tn.ID, alice.ID)).must(t))
	wantErr(t, "RemoveMember twice", s.RemoveMember(ctx, tn.ID, zeta.ID, alice.ID), store.ErrNotFound)

	tests := []struct {
		name string
		call func() error
	}{
		{"AddMember missing group", func() error { return s.AddMember(ctx, tn.ID, randomID(), alice.ID) }},
		{"AddMember missing user", func() error { return s.AddMember(ctx, tn.ID, zeta.ID, randomID()) }},
		{"RemoveMember not a member", func() error { return s.RemoveMember(ctx, tn.ID, empty.ID, bob.ID) }},
		{"ListMembers missing group", func() error {
			_, err := s.ListMembers(ctx, tn.ID, randomID(), store.ListOptions{})
			return err
		}},
		{"GroupsOfUser missing user", func() error { _, err := s.GroupsOfUser(ctx, tn.ID, randomID()); return err }},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}
