package storetest

import (
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// testRecordSignIn: the last sign-in time is stored, only moves forward, and changes
// neither Version nor UpdatedAt.
func testRecordSignIn(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "")
	if !u.LastLoginAt.IsZero() || !res(s.User(ctx, tn.ID, u.ID)).must(t).LastLoginAt.IsZero() {
		t.Fatal("a new user has a last sign-in time")
	}
	at := time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"first", at, at.UTC().Truncate(time.Microsecond)},
		{"later", at.Add(time.Hour), at.Add(time.Hour).UTC().Truncate(time.Microsecond)},
		{"earlier, out of order", at.Add(-time.Hour), at.Add(time.Hour).UTC().Truncate(time.Microsecond)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			mustDo(t, s.RecordSignIn(ctx, tn.ID, u.ID, st.at))
			got := res(s.User(ctx, tn.ID, u.ID)).must(t)
			if !got.LastLoginAt.Equal(st.want) || got.LastLoginAt.Location() != time.UTC {
				t.Errorf("LastLoginAt = %v, want %v in UTC", got.LastLoginAt, st.want)
			}
			if got.Version != u.Version || !got.UpdatedAt.Equal(u.UpdatedAt) {
				t.Errorf("RecordSignIn changed Version %d → %d or UpdatedAt", u.Version, got.Version)
			}
			wantSame(t, "Reader.User", got, res(s.Reader().User(ctx, tn.ID, u.ID)).must(t))
		})
	}
	// An admin update keeps the sign-in time.
	cur := res(s.User(ctx, tn.ID, u.ID)).must(t)
	cur.GivenName = "Al"
	if got := res(s.UpdateUser(ctx, tn.ID, cur)).must(t); !got.LastLoginAt.Equal(cur.LastLoginAt) {
		t.Errorf("UpdateUser changed LastLoginAt to %v", got.LastLoginAt)
	}
	wantErr(t, "RecordSignIn of a missing user", s.RecordSignIn(ctx, tn.ID, randomID(), at), store.ErrNotFound)
}

// testSetPasswordHash: the hash changes; Version and UpdatedAt do not.
func testSetPasswordHash(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "")
	const rehashed = "$argon2id$v=19$m=65536,t=3,p=1$bmV3c2FsdA$bmV3aGFzaA"
	mustDo(t, s.SetPasswordHash(ctx, tn.ID, u.ID, rehashed))
	got := res(s.User(ctx, tn.ID, u.ID)).must(t)
	if got.PasswordHash != rehashed || got.Version != u.Version || !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("after SetPasswordHash: hash changed=%v version %d (want %d)", got.PasswordHash == rehashed, got.Version, u.Version)
	}
	// A stale admin update still succeeds: the rehash is not a version change.
	stale := u
	stale.GivenName = "Al"
	mustDo(t, func() error { _, err := s.UpdateUser(ctx, tn.ID, stale); return err }())
	wantErr(t, "SetPasswordHash of a missing user", s.SetPasswordHash(ctx, tn.ID, randomID(), rehashed), store.ErrNotFound)
}
