package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlite"
	"github.com/ninesid/nines/internal/tenant"
)

// TestPruneOnce: on a real store, the dedupe records older than appliedCommandsKept go
// and the newer stay; events are kept with no retention set, and with one set only the
// events older than it go.
func TestPruneOnce(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC()
	b, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nines.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := b.Store()
	ten, err := st.CreateTenant(ctx, tenant.Tenant{ID: uuid.Must(uuid.NewV7()), Slug: "acme", DisplayName: "Acme", Status: tenant.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	// Commands applied "now" by the store's clock; each writes one event dated at.
	apply := func(id string, at time.Time) {
		t.Helper()
		if _, err := st.ApplyCommand(ctx, id, "audit.event", ten.ID, func(tx *sql.Tx) error {
			_, err := st.InsertEventTx(ctx, tx, ten.ID, event.Event{ID: uuid.Must(uuid.NewV7()), Type: "test.event",
				At: at, Data: json.RawMessage(`{}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply(uuid.Must(uuid.NewV7()).String(), now.Add(-100*24*time.Hour))
	apply(uuid.Must(uuid.NewV7()).String(), now.Add(-10*24*time.Hour))
	recent := uuid.Must(uuid.NewV7()).String()
	apply(recent, now.Add(-time.Hour))
	countEvents := func() int {
		t.Helper()
		p, err := st.ListEvents(ctx, ten.ID, event.Filter{}, store.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}

	// As seen from now: every record is younger than appliedCommandsKept; no retention.
	if c, e, err := pruneOnce(ctx, st, now, 0); err != nil || c != 0 || e != 0 || countEvents() != 3 {
		t.Fatalf("pruneOnce now = %d, %d, %v with %d events left; want nothing deleted", c, e, err, countEvents())
	}
	// Eight days later: the three dedupe records are past appliedCommandsKept; with a
	// 30-day retention the event dated 100 days ago goes, and only that one.
	later := now.Add(8 * 24 * time.Hour)
	c, e, err := pruneOnce(ctx, st, later, 30*24*time.Hour)
	if err != nil || c != 3 || e != 1 {
		t.Fatalf("pruneOnce 8 days later = %d commands, %d events, %v; want 3 and 1", c, e, err)
	}
	if n := countEvents(); n != 2 {
		t.Fatalf("%d events left, want 2", n)
	}
	if ok, err := st.CommandApplied(ctx, recent); err != nil || ok {
		t.Fatalf("CommandApplied(recent) after pruning = %v, %v; want false", ok, err)
	}
}

// fakePruner deletes from a count, at most limit per call.
type fakePruner struct {
	commands, events int
	calls            int
	fail             error
}

func (f *fakePruner) PruneAppliedCommands(_ context.Context, _ time.Time, limit int) (int, error) {
	f.calls++
	if f.fail != nil {
		return 0, f.fail
	}
	n := min(limit, f.commands)
	f.commands -= n
	return n, nil
}

func (f *fakePruner) PruneEvents(_ context.Context, _ time.Time, limit int) (int, error) {
	f.calls++
	n := min(limit, f.events)
	f.events -= n
	return n, nil
}

// TestPruneOnceIsBounded: a backlog drains in pruneMaxBatches batches per round, and a
// failure stops the round with its error.
func TestPruneOnceIsBounded(t *testing.T) {
	f := &fakePruner{commands: pruneBatch*pruneMaxBatches + 7, events: pruneBatch + 1}
	c, e, err := pruneOnce(t.Context(), f, time.Now(), time.Hour*24*30)
	if err != nil || c != pruneBatch*pruneMaxBatches || e != pruneBatch+1 {
		t.Fatalf("pruneOnce = %d, %d, %v; want %d, %d", c, e, err, pruneBatch*pruneMaxBatches, pruneBatch+1)
	}
	if f.commands != 7 {
		t.Fatalf("%d commands left, want 7 for the next round", f.commands)
	}
	boom := errors.New("primary down")
	f = &fakePruner{commands: 10, events: 10, fail: boom}
	if _, _, err := pruneOnce(t.Context(), f, time.Now(), time.Hour*24*30); !errors.Is(err, boom) || f.calls != 1 {
		t.Fatalf("pruneOnce with a failing store = %v after %d calls; want the error after 1", err, f.calls)
	}
}
