package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
)

func testVersionConflicts(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "")
	g := mkGroup(t, s, tn.ID, "g")
	a := mkApp(t, s, tn.ID, "web")

	tests := []struct {
		name   string
		update func() error // applies a change at the current version
		stale  func() error // applies a change at the version read before update
	}{
		{"tenant",
			func() error { x := tn; x.DisplayName = "new"; _, err := s.UpdateTenant(ctx, x); return err },
			func() error { x := tn; x.Status = tenant.StatusDisabled; _, err := s.UpdateTenant(ctx, x); return err }},
		{"user",
			func() error { x := u; x.GivenName = "new"; _, err := s.UpdateUser(ctx, tn.ID, x); return err },
			func() error { x := u; x.PasswordHash = "stale"; _, err := s.UpdateUser(ctx, tn.ID, x); return err }},
		{"group",
			func() error { x := g; x.Description = "new"; _, err := s.UpdateGroup(ctx, tn.ID, x); return err },
			func() error { x := g; x.Name = "stale"; _, err := s.UpdateGroup(ctx, tn.ID, x); return err }},
		{"application",
			func() error { x := a; x.ClientName = "new"; _, err := s.UpdateApplication(ctx, tn.ID, x); return err },
			func() error { x := a; x.ClientName = "stale"; _, err := s.UpdateApplication(ctx, tn.ID, x); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustDo(t, tc.update())
			wantErr(t, "update at a stale version", tc.stale(), store.ErrConflict)
		})
	}
	// The stale writes changed nothing.
	if got := res(s.Tenant(ctx, tn.ID)).must(t); got.Status != tenant.StatusActive || got.Version != 2 {
		t.Errorf("tenant after stale update = %+v", got)
	}
	if got := res(s.User(ctx, tn.ID, u.ID)).must(t); got.PasswordHash != u.PasswordHash || got.Version != 2 {
		t.Errorf("user after stale update: version %d, password hash changed: %v", got.Version, got.PasswordHash != u.PasswordHash)
	}
	if got := res(s.Group(ctx, tn.ID, g.ID)).must(t); got.Name != "g" || got.Version != 2 {
		t.Errorf("group after stale update = %+v", got)
	}
	if got := res(s.Application(ctx, tn.ID, a.ID)).must(t); got.ClientName != "new" || got.Version != 2 {
		t.Errorf("application after stale update: name %q version %d", got.ClientName, got.Version)
	}
}

const (
	racers = 16
	// maxTries bounds each racer's read-modify-write loop; with 16 racers each round
	// has a winner, so this is far above what any schedule needs.
	maxTries = 1000
)

// testConcurrentUpdates: 16 goroutines each add their own mark to the same user with
// read-modify-write and retry on ErrConflict. No update may be lost.
func testConcurrentUpdates(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "")
	u.FamilyName = ""
	u = res(s.UpdateUser(ctx, tn.ID, u)).must(t)

	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = addMark(t, s, tn.ID, u.ID, fmt.Sprintf("[%02d]", i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	got := res(s.User(ctx, tn.ID, u.ID)).must(t)
	for i := range racers {
		if n := strings.Count(got.FamilyName, fmt.Sprintf("[%02d]", i)); n != 1 {
			t.Errorf("mark of racer %d appears %d times in %q, want once", i, n, got.FamilyName)
		}
	}
	if want := u.Version + racers; got.Version != want {
		t.Errorf("Version = %d, want %d (one per update)", got.Version, want)
	}
}

func addMark(t *testing.T, s *sqlstore.Store, tenantID, id uuid.UUID, mark string) error {
	ctx := t.Context()
	for range maxTries {
		u, err := s.User(ctx, tenantID, id)
		if err != nil {
			return err
		}
		u.FamilyName += mark
		_, err = s.UpdateUser(ctx, tenantID, u)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("still conflicting after %d tries", maxTries)
}

// testConcurrentCreates: 16 goroutines create the same username; exactly one wins.
func testConcurrentCreates(t *testing.T, s *sqlstore.Store) {
	tn := mkTenant(t, s)
	errs := race(func(i int) error {
		_, err := s.CreateUser(t.Context(), tn.ID, newUser("same", fmt.Sprintf("u%d@example.com", i)))
		return err
	})
	checkOneWinner(t, errs, "username")
	page := res(s.ListUsers(t.Context(), tn.ID, store.ListOptions{})).must(t)
	if len(page.Items) != 1 {
		t.Errorf("%d users stored, want 1", len(page.Items))
	}
}

// testConcurrentAddMember: 16 goroutines add the same membership; exactly one wins.
func testConcurrentAddMember(t *testing.T, s *sqlstore.Store) {
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "")
	g := mkGroup(t, s, tn.ID, "g")
	errs := race(func(int) error { return s.AddMember(t.Context(), tn.ID, g.ID, u.ID) })
	checkOneWinner(t, errs, "user_id")
}

// race runs fn in racers goroutines released at once and returns their errors.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func checkOneWinner(t *testing.T, errs []error, field string) {
	t.Helper()
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
			continue
		}
		wantExists(t, fmt.Sprintf("racer %d", i), err, field)
	}
	if wins != 1 {
		t.Errorf("%d racers won, want exactly 1", wins)
	}
}
