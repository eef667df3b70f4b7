package storetest

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/user"
)

// testDeleteTenantCascades proves that the rows are gone, not merely hidden: IDs are
// unique across tenants, so re-creating an entity with a deleted entity's ID succeeds
// only when the row no longer exists. It also covers token scoping: a tenant's tokens
// go with it, global tokens stay.
func testDeleteTenantCascades(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	a := mkTenant(t, s)
	b := mkTenant(t, s)
	u := mkUser(t, s, a.ID, "alice", "alice@example.com")
	g := mkGroup(t, s, a.ID, "g")
	mustDo(t, s.AddMember(ctx, a.ID, g.ID, u.ID))
	app := mkApp(t, s, a.ID, "web")
	scoped := mkToken(t, s, a.ID, "scoped")
	global := mkToken(t, s, uuid.Nil, "global")
	// b's data must survive.
	bu := mkUser(t, s, b.ID, "alice", "alice@example.com")
	bTok := mkToken(t, s, b.ID, "b")

	aKeys := res(s.SigningKeys(ctx, a.ID)).must(t)

	mustDo(t, s.DeleteTenant(ctx, a.ID))
	if ks := res(s.SigningKeys(ctx, a.ID)).must(t); len(ks) != 0 {
		t.Errorf("the deleted tenant still has %d signing keys", len(ks))
	}
	if ks := res(s.SigningKeys(ctx, b.ID)).must(t); len(ks) != 2*len(keys.Algs) {
		t.Errorf("the other tenant has %d signing keys left", len(ks))
	}

	_, err := s.APITokenByDigest(ctx, scoped.Digest)
	wantErr(t, "the deleted tenant's token", err, store.ErrNotFound)
	wantSame(t, "global token", global, res(s.APITokenByDigest(ctx, global.Digest)).must(t))
	wantSame(t, "other tenant's token", bTok, res(s.APITokenByDigest(ctx, bTok.Digest)).must(t))
	wantSame(t, "other tenant's user", bu, res(s.User(ctx, b.ID, bu.ID)).must(t))
	page := res(s.ListAPITokens(ctx, store.ListOptions{})).must(t)
	wantSame(t, "tokens left", tokenIDs(global, bTok), tokenIDs(page.Items...))

	// Re-create everything with the same IDs and keys, first the tenant itself with its
	// old kids (unique across tenants, so this works only if the rows are gone).
	again := newTenant(a.Slug)
	again.ID = a.ID
	res(s.CreateTenantWithKeys(ctx, again, aKeys)).must(t)
	for _, l := range []int{len(res(s.ListUsers(ctx, a.ID, store.ListOptions{})).must(t).Items),
		len(res(s.ListGroups(ctx, a.ID, store.ListOptions{})).must(t).Items),
		len(res(s.ListApplications(ctx, a.ID, store.ListOptions{})).must(t).Items)} {
		if l != 0 {
			t.Errorf("re-created tenant already holds %d entities", l)
		}
	}
	nu := newUser("alice2", "") // b already has an alice
	nu.ID = u.ID
	res(s.CreateUser(ctx, b.ID, nu)).must(t)
	ng := newGroup("g")
	ng.ID = g.ID
	res(s.CreateGroup(ctx, b.ID, ng)).must(t)
	na := newApp("web2")
	na.ID = app.ID
	res(s.CreateApplication(ctx, b.ID, na)).must(t)
	st := newToken(uuid.Nil, "again")
	st.ID, st.Digest = scoped.ID, scoped.Digest
	res(s.CreateAPIToken(ctx, st)).must(t)
}

func testDeleteUserCascades(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	alice := mkUser(t, s, tn.ID, "alice", "")
	bob := mkUser(t, s, tn.ID, "bob", "")
	g := mkGroup(t, s, tn.ID, "g")
	mustDo(t, s.AddMember(ctx, tn.ID, g.ID, alice.ID))
	mustDo(t, s.AddMember(ctx, tn.ID, g.ID, bob.ID))

	mustDo(t, s.DeleteUser(ctx, tn.ID, alice.ID))
	members := res(s.ListMembers(ctx, tn.ID, g.ID, store.ListOptions{})).must(t)
	wantSame(t, "members after deleting alice", []uuid.UUID{bob.ID}, idsOf(members.Items))
	// Re-creating alice with her ID does not bring the membership back.
	again := newUser("alice", "")
	again.ID = alice.ID
	res(s.CreateUser(ctx, tn.ID, again)).must(t)
	if gs := res(s.GroupsOfUser(ctx, tn.ID, alice.ID)).must(t); len(gs) != 0 {
		t.Errorf("re-created user is in %d groups, want 0", len(gs))
	}
}

func testDeleteGroupCascades(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	alice := mkUser(t, s, tn.ID, "alice", "")
	g := mkGroup(t, s, tn.ID, "g")
	keep := mkGroup(t, s, tn.ID, "keep")
	mustDo(t, s.AddMember(ctx, tn.ID, g.ID, alice.ID))
	mustDo(t, s.AddMember(ctx, tn.ID, keep.ID, alice.ID))

	mustDo(t, s.DeleteGroup(ctx, tn.ID, g.ID))
	wantSame(t, "groups of alice", []user.Group{keep}, res(s.GroupsOfUser(ctx, tn.ID, alice.ID)).must(t))
	again := newGroup("g")
	again.ID = g.ID
	res(s.CreateGroup(ctx, tn.ID, again)).must(t)
	if p := res(s.ListMembers(ctx, tn.ID, g.ID, store.ListOptions{})).must(t); len(p.Items) != 0 {
		t.Errorf("re-created group has %d members, want 0", len(p.Items))
	}
}
