package storetest

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// evAt is the base time of the event tests.
var evAt = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// mkEvent stores e in tenantID through a command of its own and returns it as stored.
func mkEvent(t *testing.T, s *sqlstore.Store, tenantID uuid.UUID, e event.Event) event.Event {
	t.Helper()
	var out event.Event
	applied, err := s.ApplyCommand(t.Context(), newV7(t).String(), "audit.event", tenantID, func(tx *sql.Tx) error {
		var err error
		out, err = s.InsertEventTx(t.Context(), tx, tenantID, e)
		return err
	})
	if err != nil || !applied {
		t.Fatalf("insert event: applied=%v err=%v", applied, err)
	}
	return out
}

func eventIDs(es []event.Event) []uuid.UUID {
	ids := make([]uuid.UUID, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// testEvents: events round-trip, filter by type, user and time window, page by ID.
func testEvents(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	alice, bob := newV7(t), newV7(t)
	var all []event.Event
	for i := range 7 {
		e := event.Event{ID: newV7(t), Type: event.TypeSignedIn, UserID: alice, At: evAt.Add(time.Duration(i) * time.Minute)}
		switch i % 3 {
		case 1:
			e.Type, e.UserID, e.Data = event.TypeSignInFailed, bob, json.RawMessage(`{"source":"ab12"}`)
		case 2:
			e.Type, e.UserID, e.Data = "tenant.updated", uuid.Nil, json.RawMessage(`{"actor":"token:1"}`)
		}
		all = append(all, mkEvent(t, s, tn.ID, e))
	}
	got := listAll(t, func(o store.ListOptions) (store.Page[event.Event], error) {
		return s.ListEvents(ctx, tn.ID, event.Filter{}, o)
	})
	wantSame(t, "every event", all, got)
	for _, e := range got {
		checkStamp(t, "At", e.At)
		if e.TenantID != tn.ID {
			t.Errorf("event of tenant %v", e.TenantID)
		}
	}
	if string(got[0].Data) != "{}" || string(got[1].Data) != `{"source":"ab12"}` {
		t.Errorf("Data = %s, %s; want {} and as written", got[0].Data, got[1].Data)
	}
	pick := func(keep func(int) bool) []uuid.UUID {
		ids := []uuid.UUID{}
		for i, e := range all {
			if keep(i) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	tests := []struct {
		name string
		f    event.Filter
		want []uuid.UUID
	}{
		{"type", event.Filter{Type: event.TypeSignInFailed}, pick(func(i int) bool { return i%3 == 1 })},
		{"user", event.Filter{UserID: alice}, pick(func(i int) bool { return i%3 == 0 })},
		{"type and user that never meet", event.Filter{Type: event.TypeSignInFailed, UserID: alice}, []uuid.UUID{}},
		{"since, inclusive", event.Filter{Since: evAt.Add(5 * time.Minute)}, pick(func(i int) bool { return i >= 5 })},
		{"until, exclusive", event.Filter{Until: evAt.Add(2 * time.Minute)}, pick(func(i int) bool { return i < 2 })},
		{"window and user", event.Filter{UserID: alice, Since: evAt.Add(time.Minute), Until: evAt.Add(6 * time.Minute)},
			pick(func(i int) bool { return i == 3 })},
		{"unknown type", event.Filter{Type: "nope"}, []uuid.UUID{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := walk(t, tc.name, 1, func(o store.ListOptions) (store.Page[event.Event], error) {
				return s.ListEvents(ctx, tn.ID, tc.f, o)
			}, func(e event.Event) uuid.UUID { return e.ID })
			if ids == nil {
				ids = []uuid.UUID{}
			}
			wantSame(t, "ids", tc.want, ids)
		})
	}
	t.Run("pages of 2", func(t *testing.T) {
		ids := walk(t, "events", 2, func(o store.ListOptions) (store.Page[event.Event], error) {
			return s.ListEvents(ctx, tn.ID, event.Filter{}, o)
		}, func(e event.Event) uuid.UUID { return e.ID })
		wantSame(t, "ids", eventIDs(all), ids)
	})
	t.Run("refused", func(t *testing.T) {
		_, err := s.ApplyCommand(ctx, newV7(t).String(), "audit.event", tn.ID, func(tx *sql.Tx) error {
			_, err := s.InsertEventTx(ctx, tx, tn.ID, event.Event{Type: "x", Data: json.RawMessage(`[1]`)})
			return err
		})
		if err == nil {
			t.Error("InsertEventTx took data that is not a JSON object")
		}
		_, err = s.ApplyCommand(ctx, newV7(t).String(), "audit.event", tn.ID, func(tx *sql.Tx) error {
			_, err := s.InsertEventTx(ctx, tx, tn.ID, event.Event{ID: all[0].ID, Type: "x"})
			return err
		})
		wantExists(t, "InsertEventTx with a used ID", err, "id")
		_, err = s.ApplyCommand(ctx, newV7(t).String(), "audit.event", randomID(), func(tx *sql.Tx) error {
			_, err := s.InsertEventTx(ctx, tx, randomID(), event.Event{Type: "x"})
			return err
		})
		wantErr(t, "InsertEventTx in a missing tenant", err, store.ErrNotFound)
	})
	t.Run("deleted with the tenant", func(t *testing.T) {
		mustDo(t, s.DeleteTenant(ctx, tn.ID))
		p := res(s.ListEvents(ctx, tn.ID, event.Filter{}, store.ListOptions{})).must(t)
		if len(p.Items) != 0 {
			t.Errorf("%d events outlived their tenant", len(p.Items))
		}
	})
}

// testPruneEvents: pruning deletes only events before the cut, oldest first, at most
// limit per call, across tenants.
func testPruneEvents(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s), mkTenant(t, s)
	for i := range 5 {
		for _, tid := range []uuid.UUID{a.ID, b.ID} {
			mkEvent(t, s, tid, event.Event{Type: "x", At: evAt.Add(time.Duration(i) * time.Hour)})
		}
	}
	cut := evAt.Add(3 * time.Hour) // events at 0h, 1h, 2h of both tenants: 6
	if n := res(s.PruneEvents(ctx, cut, 4)).must(t); n != 4 {
		t.Errorf("first batch pruned %d, want 4", n)
	}
	if n := res(s.PruneEvents(ctx, cut, 4)).must(t); n != 2 {
		t.Errorf("second batch pruned %d, want 2", n)
	}
	if n := res(s.PruneEvents(ctx, cut, 4)).must(t); n != 0 {
		t.Errorf("third batch pruned %d, want 0", n)
	}
	for _, tid := range []uuid.UUID{a.ID, b.ID} {
		p := res(s.ListEvents(ctx, tid, event.Filter{}, store.ListOptions{})).must(t)
		if len(p.Items) != 2 {
			t.Fatalf("tenant %v kept %d events, want 2", tid, len(p.Items))
		}
		for _, e := range p.Items {
			if e.At.Before(cut) {
				t.Errorf("event at %v survived the cut %v", e.At, cut)
			}
		}
	}
}

// testApplyCommand: a command's effect happens once however often it is applied; a
// failed effect records nothing; the record can be pruned.
func testApplyCommand(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	u := mkUser(t, s, tn.ID, "alice", "")
	id := newV7(t).String()
	apply := func(at time.Time) (bool, error) {
		return s.ApplyCommand(ctx, id, "user.signed_in", tn.ID, func(tx *sql.Tx) error {
			if err := s.RecordSignInTx(ctx, tx, tn.ID, u.ID, at); err != nil {
				return err
			}
			_, err := s.InsertEventTx(ctx, tx, tn.ID, event.Event{Type: event.TypeSignedIn, UserID: u.ID, At: at})
			return err
		})
	}
	if ok := res(apply(evAt)).must(t); !ok {
		t.Fatal("first ApplyCommand reported already applied")
	}
	if ok := res(apply(evAt.Add(time.Hour))).must(t); ok {
		t.Error("second ApplyCommand of one id applied it again")
	}
	if got := res(s.User(ctx, tn.ID, u.ID)).must(t).LastLoginAt; !got.Equal(evAt) {
		t.Errorf("LastLoginAt = %v, want %v from the first application only", got, evAt)
	}
	if p := res(s.ListEvents(ctx, tn.ID, event.Filter{}, store.ListOptions{})).must(t); len(p.Items) != 1 {
		t.Errorf("%d events, want 1", len(p.Items))
	}
	if !res(s.CommandApplied(ctx, id)).must(t) {
		t.Error("CommandApplied is false for an applied command")
	}

	// A failing effect rolls back the record too: the command stays applicable.
	failing := newV7(t).String()
	boom := errors.New("boom")
	_, err := s.ApplyCommand(ctx, failing, "user.password_rehashed", tn.ID, func(tx *sql.Tx) error {
		mustDo(t, s.SetPasswordHashTx(ctx, tx, tn.ID, u.ID, "half-done"))
		return boom
	})
	wantErr(t, "a failing effect", err, boom)
	if res(s.CommandApplied(ctx, failing)).must(t) {
		t.Error("a failed command is recorded as applied")
	}
	if got := res(s.User(ctx, tn.ID, u.ID)).must(t); got.PasswordHash == "half-done" {
		t.Error("a failed command's effect was committed")
	}
	ok, err := s.ApplyCommand(ctx, failing, "user.password_rehashed", tn.ID, func(tx *sql.Tx) error {
		return s.SetPasswordHashTx(ctx, tx, tn.ID, u.ID, "rehashed")
	})
	if err != nil || !ok {
		t.Errorf("retry of the failed command: applied=%v err=%v", ok, err)
	}
	if got := res(s.User(ctx, tn.ID, u.ID)).must(t); got.PasswordHash != "rehashed" || got.Version != u.Version {
		t.Errorf("after the rehash command: hash changed=%v version %d (want %d)", got.PasswordHash == "rehashed", got.Version, u.Version)
	}
	wantErr(t, "RecordSignInTx of a missing user", func() error {
		_, err := s.ApplyCommand(ctx, newV7(t).String(), "user.signed_in", tn.ID, func(tx *sql.Tx) error {
			return s.RecordSignInTx(ctx, tx, tn.ID, randomID(), evAt)
		})
		return err
	}(), store.ErrNotFound)
	if _, err := s.ApplyCommand(ctx, "", "x", tn.ID, func(*sql.Tx) error { return nil }); err == nil {
		t.Error("ApplyCommand took an empty id")
	}

	// Pruning the records: everything applied before the cut goes.
	n := res(s.PruneAppliedCommands(ctx, time.Now().Add(time.Hour), 1000)).must(t)
	if n < 2 || res(s.CommandApplied(ctx, id)).must(t) {
		t.Errorf("PruneAppliedCommands pruned %d; applied record still there: %v", n, res(s.CommandApplied(ctx, id)).must(t))
	}
}

// testConcurrentApplyCommand: racers applying one command id at once apply it once.
func testConcurrentApplyCommand(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	id := newV7(t).String()
	var effects atomic.Int64
	applied := make([]bool, racers)
	errs := race(func(i int) error {
		ok, err := s.ApplyCommand(ctx, id, "audit.event", tn.ID, func(tx *sql.Tx) error {
			_, err := s.InsertEventTx(ctx, tx, tn.ID, event.Event{Type: "race", Data: json.RawMessage(fmt.Sprintf(`{"racer":%d}`, i))})
			if err == nil {
				effects.Add(1) // counts attempts that reached the effect, committed or not
			}
			return err
		})
		applied[i] = ok
		return err
	})
	wins := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
		if applied[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d racers applied the command, want exactly 1", wins)
	}
	p := res(s.ListEvents(ctx, tn.ID, event.Filter{}, store.ListOptions{})).must(t)
	if len(p.Items) != 1 {
		t.Errorf("%d events stored, want 1 (effect attempts: %d)", len(p.Items), effects.Load())
	}
}
