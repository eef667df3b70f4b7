package storetest

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/user"
)

func testUsers(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	in := newUser("alice", "alice@example.com")
	in.TenantID = randomID() // must be overridden by the argument
	got := res(s.CreateUser(ctx, tn.ID, in)).must(t)
	want := in
	want.ID, want.TenantID, want.Version, want.CreatedAt, want.UpdatedAt = got.ID, tn.ID, 1, got.CreatedAt, got.CreatedAt
	wantSame(t, "CreateUser", want, got)
	checkStamp(t, "CreatedAt", got.CreatedAt)
	if got.ID.Version() != 7 {
		t.Errorf("new user ID %v is not a UUIDv7", got.ID)
	}
	wantSame(t, "User", got, res(s.User(ctx, tn.ID, got.ID)).must(t))
	wantSame(t, "UserByUsername", got, res(s.UserByUsername(ctx, tn.ID, "alice")).must(t))
	wantSame(t, "UserByEmail", got, res(s.UserByEmail(ctx, tn.ID, "alice@example.com")).must(t))

	// A given ID is kept.
	id := uuid.Must(uuid.NewV7())
	withID := newUser("bob", "")
	withID.ID = id
	if b := res(s.CreateUser(ctx, tn.ID, withID)).must(t); b.ID != id {
		t.Errorf("CreateUser with ID %v stored ID %v", id, b.ID)
	}

	upd := got
	upd.Username, upd.Email, upd.EmailVerified = "alice2", "alice2@example.com", false
	upd.GivenName, upd.FamilyName, upd.Status = "Al", "Ice", user.StatusDisabled
	upd.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA"
	after := res(s.UpdateUser(ctx, tn.ID, upd)).must(t)
	want = upd
	want.Version, want.UpdatedAt = 2, after.UpdatedAt
	wantSame(t, "UpdateUser", want, after)
	if after.UpdatedAt.Before(got.UpdatedAt) {
		t.Errorf("UpdatedAt went back from %v to %v", got.UpdatedAt, after.UpdatedAt)
	}
	wantSame(t, "User after update", after, res(s.User(ctx, tn.ID, got.ID)).must(t))
	wantSame(t, "UserByEmail after update", after, res(s.UserByEmail(ctx, tn.ID, "alice2@example.com")).must(t))
	_, err := s.UserByUsername(ctx, tn.ID, "alice")
	wantErr(t, "UserByUsername of the old name", err, store.ErrNotFound)
	_, err = s.UserByEmail(ctx, tn.ID, "alice@example.com")
	wantErr(t, "UserByEmail of the old address", err, store.ErrNotFound)

	mustDo(t, s.DeleteUser(ctx, tn.ID, got.ID))
	_, err = s.User(ctx, tn.ID, got.ID)
	wantErr(t, "User after delete", err, store.ErrNotFound)

	tests := []struct {
		name string
		call func() error
	}{
		{"User", func() error { _, err := s.User(ctx, tn.ID, randomID()); return err }},
		{"UserByUsername", func() error { _, err := s.UserByUsername(ctx, tn.ID, "nobody"); return err }},
		{"UserByEmail", func() error { _, err := s.UserByEmail(ctx, tn.ID, "nobody@example.com"); return err }},
		{"UserByEmail empty", func() error { _, err := s.UserByEmail(ctx, tn.ID, ""); return err }},
		{"UpdateUser", func() error { _, err := s.UpdateUser(ctx, tn.ID, upd); return err }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, tn.ID, got.ID) }},
		{"CreateUser in a missing tenant", func() error {
			_, err := s.CreateUser(ctx, randomID(), newUser("carol", ""))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}

func testUserUniqueKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	a := mkUser(t, s, tn.ID, "alice", "alice@example.com")
	b := mkUser(t, s, tn.ID, "bob", "")
	// Several users without an e-mail address do not collide.
	mkUser(t, s, tn.ID, "carol", "")

	withID := newUser("dave", "")
	withID.ID = a.ID
	tests := []struct {
		name  string
		in    user.User
		field string
	}{
		{"username", newUser("alice", "other@example.com"), "username"},
		{"email", newUser("alice2", "alice@example.com"), "email"},
		{"id", withID, "id"},
	}
	for _, tc := range tests {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, tn.ID, tc.in)
			wantExists(t, "CreateUser", err, tc.field)
		})
	}
	t.Run("update/username", func(t *testing.T) {
		u := b
		u.Username = "alice"
		_, err := s.UpdateUser(ctx, tn.ID, u)
		wantExists(t, "UpdateUser", err, "username")
	})
	t.Run("update/email", func(t *testing.T) {
		u := b
		u.Email = "alice@example.com"
		_, err := s.UpdateUser(ctx, tn.ID, u)
		wantExists(t, "UpdateUser", err, "email")
	})
	wantSame(t, "alice after collisions", a, res(s.User(ctx, tn.ID, a.ID)).must(t))
	wantSame(t, "bob after collisions", b, res(s.User(ctx, tn.ID, b.ID)).must(t))

	// Unique keys are per tenant.
	other := mkTenant(t, s)
	mkUser(t, s, other.ID, "alice", "alice@example.com")
}

// testUserStoredAsGiven: the store compares and keeps usernames and e-mail addresses
// exactly as given; case-insensitivity comes from callers running user.Normalize.
func testUserStoredAsGiven(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	raw := mkUser(t, s, tn.ID, "Mixed.Case", "Mixed@Example.COM")
	wantSame(t, "stored as given", raw, res(s.UserByUsername(ctx, tn.ID, "Mixed.Case")).must(t))
	_, err := s.UserByUsername(ctx, tn.ID, "mixed.case")
	wantErr(t, "lookup in another case", err, store.ErrNotFound)

	n := newUser("  ALICE ", "Alice@Example.com")
	n.Normalize()
	mustDo(t, func() error { _, err := s.CreateUser(ctx, tn.ID, n); return err }())
	again := newUser("Alice", "other@example.com")
	again.Normalize()
	_, err = s.CreateUser(ctx, tn.ID, again)
	wantExists(t, "normalized username in another case", err, "username")
	again = newUser("alice-2", "ALICE@example.com")
	again.Normalize()
	_, err = s.CreateUser(ctx, tn.ID, again)
	wantExists(t, "normalized e-mail in another case", err, "email")
}
