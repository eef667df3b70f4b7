package storetest

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// maxPages bounds every page walk.
const maxPages = 1000

// walk lists every page with limit and returns the IDs in order, checking that each
// page but the last is full and has a Next, and that the last has none.
func walk[T any](t *testing.T, what string, limit int, list func(store.ListOptions) (store.Page[T], error), id func(T) uuid.UUID) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	after := uuid.Nil
	for range maxPages {
		p := res(list(store.ListOptions{After: after, Limit: limit})).must(t)
		for _, it := range p.Items {
			ids = append(ids, id(it))
		}
		if p.Next == uuid.Nil {
			if len(p.Items) > limit {
				t.Errorf("%s: last page has %d items, limit %d", what, len(p.Items), limit)
			}
			return ids
		}
		if len(p.Items) != limit {
			t.Errorf("%s: page with a Next has %d items, want %d", what, len(p.Items), limit)
			return ids
		}
		if p.Next != id(p.Items[len(p.Items)-1]) {
			t.Errorf("%s: Next = %v, want the last ID of the page", what, p.Next)
		}
		after = p.Next
	}
	t.Fatalf("%s: more than %d pages", what, maxPages)
	return nil
}

func testPagination(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	other := mkTenant(t, s)
	const n = 7
	var users, groups, apps, tokens, tenants []uuid.UUID
	tenants = append(tenants, tn.ID, other.ID)
	g := mkGroup(t, s, tn.ID, "members")
	groups = append(groups, g.ID)
	for i := range n {
		u := mkUser(t, s, tn.ID, fmt.Sprintf("user%d", i), "")
		users = append(users, u.ID)
		mustDo(t, s.AddMember(ctx, tn.ID, g.ID, u.ID))
		groups = append(groups, mkGroup(t, s, tn.ID, fmt.Sprintf("group%d", i)).ID)
		apps = append(apps, mkApp(t, s, tn.ID, fmt.Sprintf("app%d", i)).ID)
		tokens = append(tokens, mkToken(t, s, tn.ID, fmt.Sprintf("token%d", i)).ID)
		tenants = append(tenants, mkTenant(t, s).ID)
		// Noise in another tenant that no tenant-scoped list may show.
		mkUser(t, s, other.ID, fmt.Sprintf("user%d", i), "")
		mkGroup(t, s, other.ID, fmt.Sprintf("group%d", i))
		mkApp(t, s, other.ID, fmt.Sprintf("app%d", i))
	}
	tokens = append(tokens, mkToken(t, s, other.ID, "other").ID, mkToken(t, s, uuid.Nil, "global").ID)
	for _, ids := range [][]uuid.UUID{users, groups, apps, tokens, tenants} {
		sortIDs(ids)
	}
	uid := func(u user.User) uuid.UUID { return u.ID }
	for _, limit := range []int{1, 3, n, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			wantSame(t, "users", users, walk(t, "ListUsers", limit,
				func(o store.ListOptions) (store.Page[user.User], error) { return s.ListUsers(ctx, tn.ID, o) }, uid))
			wantSame(t, "members", users, walk(t, "ListMembers", limit,
				func(o store.ListOptions) (store.Page[user.User], error) {
					return s.ListMembers(ctx, tn.ID, g.ID, o)
				}, uid))
			wantSame(t, "groups", groups, walk(t, "ListGroups", limit,
				func(o store.ListOptions) (store.Page[user.Group], error) { return s.ListGroups(ctx, tn.ID, o) },
				func(g user.Group) uuid.UUID { return g.ID }))
			wantSame(t, "applications", apps, walk(t, "ListApplications", limit,
				func(o store.ListOptions) (store.Page[client.Application], error) {
					return s.ListApplications(ctx, tn.ID, o)
				}, func(a client.Application) uuid.UUID { return a.ID }))
			wantSame(t, "tokens", tokens, walk(t, "ListAPITokens", limit,
				func(o store.ListOptions) (store.Page[apitoken.Token], error) { return s.ListAPITokens(ctx, o) },
				func(a apitoken.Token) uuid.UUID { return a.ID }))
			wantSame(t, "tenants", tenants, walk(t, "ListTenants", limit, func(o store.ListOptions) (store.Page[tenant.Tenant], error) {
				return s.ListTenants(ctx, o)
			}, func(t tenant.Tenant) uuid.UUID { return t.ID }))
		})
	}
	// A page starting after the last ID is empty and final.
	p := res(s.ListUsers(ctx, tn.ID, store.ListOptions{After: users[len(users)-1]})).must(t)
	if len(p.Items) != 0 || p.Next != uuid.Nil {
		t.Errorf("page after the last user = %d items, Next %v; want empty and final", len(p.Items), p.Next)
	}
	if p.Items == nil {
		t.Error("an empty page has nil Items, want an empty slice")
	}
}

// testLimitClamping: Limit 0 or below gives DefaultLimit items, above MaxLimit gives
// MaxLimit.
func testLimitClamping(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	for i := range store.MaxLimit + 1 {
		mkGroup(t, s, tn.ID, fmt.Sprintf("g%04d", i))
	}
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"zero", 0, store.DefaultLimit},
		{"negative", -5, store.DefaultLimit},
		{"in range", 7, 7},
		{"max", store.MaxLimit, store.MaxLimit},
		{"above max", store.MaxLimit + 100, store.MaxLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := res(s.ListGroups(ctx, tn.ID, store.ListOptions{Limit: tc.limit})).must(t)
			if len(p.Items) != tc.want || p.Next == uuid.Nil {
				t.Errorf("Limit %d: %d items, Next %v; want %d items and a Next", tc.limit, len(p.Items), p.Next, tc.want)
			}
		})
	}
}
