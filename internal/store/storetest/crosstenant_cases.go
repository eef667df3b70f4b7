package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/user"
)

// crossTenantCases has one case per tenant-scoped method of *Store ("Store.Name") and
// *Reader ("Reader.Name"). Each calls the method from other tenants with A's IDs and
// keys and checks it finds nothing; the runner then checks that A is unchanged.
func crossTenantCases() map[string]func(t *testing.T, w *world) {
	cases := map[string]func(t *testing.T, w *world){
		// Users.
		"Store.CreateUser": func(t *testing.T, w *world) {
			createElsewhere(t, w, "user", func(tid uuid.UUID) (uuid.UUID, error) {
				u, err := w.s.CreateUser(t.Context(), tid, newUser(w.aUser.Username, w.aUser.Email))
				return u.ID, err
			}, func(id uuid.UUID) error { return w.s.DeleteUser(t.Context(), w.b.ID, id) })
			u := newUser("fresh", "")
			u.ID = w.aUser.ID
			_, err := w.s.CreateUser(t.Context(), w.b.ID, u)
			wantExists(t, "CreateUser in B with A's user ID", err, "id")
		},
		"Store.User": getCase(func(w *world, tid uuid.UUID) error { _, err := w.s.User(ctxOf(w), tid, w.aUser.ID); return err }),
		"Store.UserByUsername": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.s.UserByUsername(ctxOf(w), tid, w.aUser.Username)
			return err
		}),
		"Store.UserByEmail": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.s.UserByEmail(ctxOf(w), tid, w.aUser.Email)
			return err
		}),
		"Store.ListUsers": listCase(func(w *world, tid uuid.UUID) ([]uuid.UUID, []uuid.UUID, error) {
			p, err := w.s.ListUsers(ctxOf(w), tid, store.ListOptions{Limit: store.MaxLimit})
			return userIDs(p.Items), userTenants(p.Items), err
		}),
		"Store.UpdateUser": getCase(func(w *world, tid uuid.UUID) error {
			u := w.aUser
			u.PasswordHash, u.Status = "attacker", user.StatusDisabled
			_, err := w.s.UpdateUser(ctxOf(w), tid, u)
			return err
		}),
		"Store.DeleteUser": getCase(func(w *world, tid uuid.UUID) error { return w.s.DeleteUser(ctxOf(w), tid, w.aUser.ID) }),

		// Groups and memberships.
		"Store.CreateGroup": func(t *testing.T, w *world) {
			createElsewhere(t, w, "group", func(tid uuid.UUID) (uuid.UUID, error) {
				g, err := w.s.CreateGroup(t.Context(), tid, newGroup(w.aGroup.Name))
				return g.ID, err
			}, func(id uuid.UUID) error { return w.s.DeleteGroup(t.Context(), w.b.ID, id) })
			g := newGroup("fresh")
			g.ID = w.aGroup.ID
			_, err := w.s.CreateGroup(t.Context(), w.b.ID, g)
			wantExists(t, "CreateGroup in B with A's group ID", err, "id")
		},
		"Store.Group": getCase(func(w *world, tid uuid.UUID) error { _, err := w.s.Group(ctxOf(w), tid, w.aGroup.ID); return err }),
		"Store.GroupByName": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.s.GroupByName(ctxOf(w), tid, w.aGroup.Name)
			return err
		}),
		"Store.ListGroups": listCase(func(w *world, tid uuid.UUID) ([]uuid.UUID, []uuid.UUID, error) {
			p, err := w.s.ListGroups(ctxOf(w), tid, store.ListOptions{Limit: store.MaxLimit})
			var ids, tids []uuid.UUID
			for _, g := range p.Items {
				ids, tids = append(ids, g.ID), append(tids, g.TenantID)
			}
			return ids, tids, err
		}),
		"Store.UpdateGroup": getCase(func(w *world, tid uuid.UUID) error {
			g := w.aGroup
			g.Name = "hijacked"
			_, err := w.s.UpdateGroup(ctxOf(w), tid, g)
			return err
		}),
		"Store.DeleteGroup":  getCase(func(w *world, tid uuid.UUID) error { return w.s.DeleteGroup(ctxOf(w), tid, w.aGroup.ID) }),
		"Store.AddMember":    testAddMemberAcross,
		"Store.RemoveMember": getCase(func(w *world, tid uuid.UUID) error { return w.s.RemoveMember(ctxOf(w), tid, w.aGroup.ID, w.aUser.ID) }),
		"Store.ListMembers": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.s.ListMembers(ctxOf(w), tid, w.aGroup.ID, store.ListOptions{})
			return err
		}),
		"Store.GroupsOfUser": getCase(func(w *world, tid uuid.UUID) error { _, err := w.s.GroupsOfUser(ctxOf(w), tid, w.aUser.ID); return err }),

		// Applications.
		"Store.CreateApplication": func(t *testing.T, w *world) {
			createElsewhere(t, w, "application", func(tid uuid.UUID) (uuid.UUID, error) {
				a, err := w.s.CreateApplication(t.Context(), tid, newApp(w.aApp.ClientID))
				return a.ID, err
			}, func(id uuid.UUID) error { return w.s.DeleteApplication(t.Context(), w.b.ID, id) })
			a := newApp("fresh")
			a.ID = w.aApp.ID
			_, err := w.s.CreateApplication(t.Context(), w.b.ID, a)
			wantExists(t, "CreateApplication in B with A's application ID", err, "id")
		},
		"Store.Application": getCase(func(w *world, tid uuid.UUID) error { _, err := w.s.Application(ctxOf(w), tid, w.aApp.ID); return err }),
		"Store.ApplicationByClientID": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.s.ApplicationByClientID(ctxOf(w), tid, w.aApp.ClientID)
			return err
		}),
		"Store.ListApplications": listCase(func(w *world, tid uuid.UUID) ([]uuid.UUID, []uuid.UUID, error) {
			p, err := w.s.ListApplications(ctxOf(w), tid, store.ListOptions{Limit: store.MaxLimit})
			var ids, tids []uuid.UUID
			for _, a := range p.Items {
				ids, tids = append(ids, a.ID), append(tids, a.TenantID)
			}
			return ids, tids, err
		}),
		"Store.UpdateApplication": getCase(func(w *world, tid uuid.UUID) error {
			a := w.aApp
			a.RedirectURIs = []string{"https://attacker.example/cb"}
			a.SecretDigest = client.Digest("attacker")
			_, err := w.s.UpdateApplication(ctxOf(w), tid, a)
			return err
		}),
		"Store.DeleteApplication": getCase(func(w *world, tid uuid.UUID) error { return w.s.DeleteApplication(ctxOf(w), tid, w.aApp.ID) }),

		// The login tier's Reader.
		"Reader.User": getCase(func(w *world, tid uuid.UUID) error { _, err := w.r.User(ctxOf(w), tid, w.aUser.ID); return err }),
		"Reader.UserByUsername": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.r.UserByUsername(ctxOf(w), tid, w.aUser.Username)
			return err
		}),
		"Reader.UserByEmail": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.r.UserByEmail(ctxOf(w), tid, w.aUser.Email)
			return err
		}),
		"Reader.GroupsOfUser": getCase(func(w *world, tid uuid.UUID) error { _, err := w.r.GroupsOfUser(ctxOf(w), tid, w.aUser.ID); return err }),
		"Reader.ApplicationByClientID": getCase(func(w *world, tid uuid.UUID) error {
			_, err := w.r.ApplicationByClientID(ctxOf(w), tid, w.aApp.ClientID)
			return err
		}),
	}
	maps.Copy(cases, keyAndSignInCases())
	maps.Copy(cases, commandCases())
	return cases
}

func ctxOf(w *world) context.Context { return w.ctx }

// getCase: the call must be store.ErrNotFound from every other tenant.
func getCase(call func(w *world, tid uuid.UUID) error) func(t *testing.T, w *world) {
	return func(t *testing.T, w *world) {
		for _, tid := range w.others() {
			wantErr(t, fmt.Sprintf("from tenant %v", tid), call(w, tid), store.ErrNotFound)
		}
	}
}

// listCase: a list from another tenant shows none of A's entities, only its own.
func listCase(list func(w *world, tid uuid.UUID) (ids, tenants []uuid.UUID, err error)) func(t *testing.T, w *world) {
	return func(t *testing.T, w *world) {
		aIDs := []uuid.UUID{w.aUser.ID, w.aUser2.ID, w.aGroup.ID, w.aEmpty.ID, w.aApp.ID, w.aEvent.ID}
		for _, tid := range w.others() {
			ids, tenants, err := list(w, tid)
			if err != nil {
				t.Errorf("from tenant %v: %v", tid, err)
				continue
			}
			for i, id := range ids {
				if slices.Contains(aIDs, id) {
					t.Errorf("from tenant %v: list shows A's entity %v", tid, id)
				}
				if tenants[i] != tid {
					t.Errorf("from tenant %v: list shows an entity of tenant %v", tid, tenants[i])
				}
			}
			if tid != w.b.ID && len(ids) != 0 {
				t.Errorf("from tenant %v, which has no data: %d items", tid, len(ids))
			}
		}
	}
}

// createElsewhere: creating an entity with A's unique keys works in B (keys are per
// tenant) and is store.ErrNotFound in a tenant that does not exist.
func createElsewhere(t *testing.T, w *world, what string, create func(tid uuid.UUID) (uuid.UUID, error), remove func(uuid.UUID) error) {
	t.Helper()
	for _, tid := range w.others() {
		id, err := create(tid)
		if tid != w.b.ID {
			wantErr(t, fmt.Sprintf("create %s in missing tenant %v", what, tid), err, store.ErrNotFound)
			continue
		}
		if err != nil {
			t.Errorf("create %s in B with A's keys: %v", what, err)
			continue
		}
		mustDo(t, remove(id))
	}
}

// testAddMemberAcross tries every way to make a membership that crosses tenants.
func testAddMemberAcross(t *testing.T, w *world) {
	ctx := w.ctx
	a, b := w.a.ID, w.b.ID
	tests := []struct {
		name                  string
		tenant, group, member uuid.UUID
	}{
		{"B, A's group, A's user", b, w.aGroup.ID, w.aUser.ID},
		{"B, B's group, A's user", b, w.bGroup.ID, w.aUser.ID},
		{"B, A's group, B's user", b, w.aGroup.ID, w.bUser.ID},
		{"A, A's group, B's user", a, w.aEmpty.ID, w.bUser.ID},
		{"A, B's group, A's user", a, w.bGroup.ID, w.aUser.ID},
		{"no tenant, A's group, A's user", uuid.Nil, w.aEmpty.ID, w.aUser.ID},
	}
	for _, tc := range tests {
		wantErr(t, "AddMember "+tc.name, w.s.AddMember(ctx, tc.tenant, tc.group, tc.member), store.ErrNotFound)
	}
	// B's side holds no trace either.
	if p := res(w.s.ListMembers(ctx, b, w.bGroup.ID, store.ListOptions{})).must(t); len(p.Items) != 0 {
		t.Errorf("B's group gained %d members", len(p.Items))
	}
	if gs := res(w.s.GroupsOfUser(ctx, b, w.bUser.ID)).must(t); len(gs) != 0 {
		t.Errorf("B's user joined %d groups", len(gs))
	}
}

func userIDs(us []user.User) []uuid.UUID {
	ids := make([]uuid.UUID, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func userTenants(us []user.User) []uuid.UUID {
	ids := make([]uuid.UUID, len(us))
	for i, u := range us {
		ids[i] = u.TenantID
	}
	return ids
}
