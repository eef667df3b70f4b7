package storetest

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// world is tenant A's full data set, which every cross-tenant case attacks, and tenant
// B's own entities, which the attacks mix in.
type world struct {
	ctx            context.Context // the test's; lives through every case
	s              *sqlstore.Store
	r              *sqlstore.Reader
	a, b           tenant.Tenant
	aUser, aUser2  user.User
	bUser          user.User
	aGroup, aEmpty user.Group
	bGroup         user.Group
	aApp, bApp     client.Application
	aEvent, bEvent event.Event
}

func buildWorld(t *testing.T, s *sqlstore.Store) *world {
	ctx := t.Context()
	w := &world{ctx: ctx, s: s, r: s.Reader(), a: mkTenant(t, s), b: mkTenant(t, s)}
	w.aUser = mkUser(t, s, w.a.ID, "alice", "alice@example.com")
	w.aUser2 = mkUser(t, s, w.a.ID, "anna", "anna@example.com")
	mustDo(t, s.RecordSignIn(ctx, w.a.ID, w.aUser.ID, time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)))
	w.aUser = res(s.User(ctx, w.a.ID, w.aUser.ID)).must(t)
	w.aGroup = mkGroup(t, s, w.a.ID, "admins")
	w.aEmpty = mkGroup(t, s, w.a.ID, "empty")
	mustDo(t, s.AddMember(ctx, w.a.ID, w.aGroup.ID, w.aUser.ID))
	mustDo(t, s.AddMember(ctx, w.a.ID, w.aGroup.ID, w.aUser2.ID))
	w.aApp = mkApp(t, s, w.a.ID, "web")
	mkToken(t, s, w.a.ID, "a-token")
	// B's keys differ from A's, so that a lookup of A's key in B must find nothing.
	w.bUser = mkUser(t, s, w.b.ID, "bob", "bob@example.com")
	w.bGroup = mkGroup(t, s, w.b.ID, "b-admins")
	w.bApp = mkApp(t, s, w.b.ID, "b-web")
	w.aEvent = mkEvent(t, s, w.a.ID, event.Event{Type: event.TypeSignedIn, UserID: w.aUser.ID, At: evAt})
	w.bEvent = mkEvent(t, s, w.b.ID, event.Event{Type: event.TypeSignedIn, UserID: w.bUser.ID, At: evAt})
	return w
}

// others are the tenant IDs that must not reach A's data: B, no tenant at all (nothing
// falls back to a default tenant) and a tenant that does not exist.
func (w *world) others() []uuid.UUID { return []uuid.UUID{w.b.ID, uuid.Nil, randomID()} }

// snapshot is everything of tenant A that the store can show.
type snapshot struct {
	Tenant   tenant.Tenant
	Users    []user.User
	Groups   []user.Group
	Apps     []client.Application
	Members  map[uuid.UUID][]user.User
	GroupsOf map[uuid.UUID][]user.Group
	Tokens   []apitoken.Token
	Keys     []keys.Key
	Events   []event.Event
}

func takeSnapshot(t *testing.T, w *world) snapshot {
	t.Helper()
	ctx := t.Context()
	s, id := w.s, w.a.ID
	snap := snapshot{
		Tenant: res(s.Tenant(ctx, id)).must(t),
		Users:  listAll(t, func(o store.ListOptions) (store.Page[user.User], error) { return s.ListUsers(ctx, id, o) }),
		Groups: listAll(t, func(o store.ListOptions) (store.Page[user.Group], error) { return s.ListGroups(ctx, id, o) }),
		Apps: listAll(t, func(o store.ListOptions) (store.Page[client.Application], error) {
			return s.ListApplications(ctx, id, o)
		}),
		Members:  map[uuid.UUID][]user.User{},
		GroupsOf: map[uuid.UUID][]user.Group{},
		Keys:     res(s.SigningKeys(ctx, id)).must(t),
		Events: listAll(t, func(o store.ListOptions) (store.Page[event.Event], error) {
			return s.ListEvents(ctx, id, event.Filter{}, o)
		}),
	}
	for _, g := range snap.Groups {
		snap.Members[g.ID] = listAll(t, func(o store.ListOptions) (store.Page[user.User], error) {
			return s.ListMembers(ctx, id, g.ID, o)
		})
	}
	for _, u := range snap.Users {
		snap.GroupsOf[u.ID] = res(s.GroupsOfUser(ctx, id, u.ID)).must(t)
	}
	for _, tok := range listAll(t, func(o store.ListOptions) (store.Page[apitoken.Token], error) { return s.ListAPITokens(ctx, o) }) {
		if tok.TenantID == id {
			snap.Tokens = append(snap.Tokens, tok)
		}
	}
	return snap
}

func listAll[T any](t *testing.T, list func(store.ListOptions) (store.Page[T], error)) []T {
	t.Helper()
	var all []T
	opts := store.ListOptions{Limit: store.MaxLimit}
	for range maxPages {
		p := res(list(opts)).must(t)
		all = append(all, p.Items...)
		if p.Next == uuid.Nil {
			return all
		}
		opts.After = p.Next
	}
	t.Fatalf("more than %d pages", maxPages)
	return nil
}

// testCrossTenant runs every case against one world and proves after each that tenant
// A's data is unchanged.
func testCrossTenant(t *testing.T, s *sqlstore.Store) {
	w := buildWorld(t, s)
	before := takeSnapshot(t, w)
	if len(before.Users) != 2 || len(before.Members[w.aGroup.ID]) != 2 || len(before.Tokens) != 1 ||
		!keys.IsComplete(before.Keys) || len(before.Events) != 1 || before.Users[0].LastLoginAt.IsZero() {
		t.Fatalf("world not built as intended: %+v", before)
	}
	cases := crossTenantCases()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cases[name](t, w)
			wantSame(t, "tenant A after "+name, before, takeSnapshot(t, w))
		})
	}
}

// Methods with no cross-tenant case, and why. Everything else on *Store and *Reader must
// have a case in crossTenantCases; testCrossTenantCoversEveryMethod enforces it.
var (
	storeExempt = map[string]string{
		"CreateTenant": "tenant management: the tenant is the subject, not a scope (admin tier, global tokens only); " +
			"that deleting one tenant leaves another intact is in DeleteTenantCascades; " +
			"CreateTenantWithKeys, which it calls, has the case for keys",
		"Tenant":       "tenant management: looks a tenant up by its own ID",
		"TenantBySlug": "tenant management: resolves the tenant from the request path",
		"ListTenants":  "tenant management: lists every tenant for global admins",
		"TenantsWithIncompleteKeys": "tenant management: lists tenants across the installation for start-up maintenance " +
			"(admin.EnsureSigningKeys), like ListTenants; what it returns is checked in TenantsWithIncompleteKeys",
		"UpdateTenant":     "tenant management: the tenant is the subject, not a scope",
		"DeleteTenant":     "tenant management: the tenant is the subject; its cascade is DeleteTenantCascades",
		"CreateAPIToken":   "API tokens: global by design (a token may be global); tenant scope is enforced by the admin tier on Token.TenantID; a tenant-scoped token is deleted with its tenant (DeleteTenantCascades)",
		"APITokenByDigest": "API tokens: looked up by digest before any tenant is known",
		"ListAPITokens":    "API tokens: global listing for global admins",
		"DeleteAPIToken":   "API tokens: keyed by their own ID, global by design",
		"Ping":             "takes no tenant and returns no data",
		"Reader":           "returns the Reader, whose methods have their own cases",
		"InTx":             "runs the caller's own SQL; tenant scoping is the caller's WHERE clause",
		"PruneEvents": "retention across the installation by time, like a partition drop; what it deletes " +
			"(and keeps) is checked in PruneEvents",
		"PruneAppliedCommands": "retention of the idempotency records across the installation by time; checked in ApplyCommand",
		"CommandApplied":       "looks up a command's idempotency key, global by design (UUIDv7); returns no tenant data",
	}
	readerExempt = map[string]string{
		"Tenant":       "tenant lookup by its own ID",
		"TenantBySlug": "tenant resolution from the request path",
	}
)

// testCrossTenantCoversEveryMethod makes it impossible to add a store method without a
// cross-tenant case (or a stated exemption).
func testCrossTenantCoversEveryMethod(t *testing.T, s *sqlstore.Store) {
	cases := crossTenantCases()
	check := func(prefix string, typ reflect.Type, exempt map[string]string) {
		methods := map[string]bool{}
		for i := range typ.NumMethod() {
			name := typ.Method(i).Name
			methods[name] = true
			_, hasCase := cases[prefix+name]
			reason, isExempt := exempt[name]
			switch {
			case hasCase && isExempt:
				t.Errorf("%s%s has a case and an exemption; drop one", prefix, name)
			case !hasCase && !isExempt:
				t.Errorf("%s%s has no cross-tenant case: add one to crossTenantCases (or an exemption with a reason)", prefix, name)
			case isExempt && reason == "":
				t.Errorf("%s%s is exempt without a reason", prefix, name)
			}
		}
		for name := range exempt {
			if !methods[name] {
				t.Errorf("exemption for %s%s, which is not a method", prefix, name)
			}
		}
		for name := range cases {
			if m, ok := strings.CutPrefix(name, prefix); ok && !methods[m] {
				t.Errorf("cross-tenant case %s names no method", name)
			}
		}
	}
	check("Store.", reflect.TypeOf(s), storeExempt)
	check("Reader.", reflect.TypeOf(s.Reader()), readerExempt)
}
