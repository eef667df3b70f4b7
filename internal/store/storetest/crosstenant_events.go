package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
)

// errRollback ends a case's transaction after the call under test succeeded.
var errRollback = errors.New("roll back")

// commandCases are the cross-tenant cases of the worker's methods: ApplyCommand, the
// ...Tx methods it runs, and the event list.
func commandCases() map[string]func(t *testing.T, w *world) {
	// inCommand runs call in a fresh command of tenant tid and returns its error.
	inCommand := func(w *world, tid uuid.UUID, call func(tx *sql.Tx) error) error {
		_, err := w.s.ApplyCommand(ctxOf(w), uuid.NewString(), "test", tid, call)
		return err
	}
	return map[string]func(t *testing.T, w *world){
		"Store.ApplyCommand": getCase(func(w *world, tid uuid.UUID) error {
			return inCommand(w, tid, func(tx *sql.Tx) error {
				if err := w.s.RecordSignInTx(ctxOf(w), tx, tid, w.aUser.ID, time.Now().Add(time.Hour)); err != nil {
					return err
				}
				return w.s.SetPasswordHashTx(ctxOf(w), tx, tid, w.aUser.ID, "attacker")
			})
		}),
		"Store.RecordSignInTx": getCase(func(w *world, tid uuid.UUID) error {
			return inCommand(w, tid, func(tx *sql.Tx) error {
				return w.s.RecordSignInTx(ctxOf(w), tx, tid, w.aUser.ID, time.Now().Add(time.Hour))
			})
		}),
		"Store.SetPasswordHashTx": getCase(func(w *world, tid uuid.UUID) error {
			return inCommand(w, tid, func(tx *sql.Tx) error {
				return w.s.SetPasswordHashTx(ctxOf(w), tx, tid, w.aUser.ID, "attacker")
			})
		}),
		"Store.InsertEventTx": func(t *testing.T, w *world) {
			for _, tid := range w.others() {
				e := w.aEvent
				e.Data = []byte(`{"forged":true}`)
				err := inCommand(w, tid, func(tx *sql.Tx) error {
					got, err := w.s.InsertEventTx(ctxOf(w), tx, tid, e)
					if err == nil && got.TenantID != tid {
						t.Errorf("InsertEventTx in %v stored the event in %v", tid, got.TenantID)
					}
					if err != nil {
						return err
					}
					return errRollback // B may hold an event with A's ID; keep B's list free of it
				})
				want := store.ErrNotFound
				if tid == w.b.ID {
					want = errRollback
				}
				wantErr(t, fmt.Sprintf("InsertEventTx of A's event in %v", tid), err, want)
			}
		},
		"Store.ListEvents": func(t *testing.T, w *world) {
			filters := []event.Filter{{}, {UserID: w.aUser.ID}, {Type: w.aEvent.Type}}
			for _, f := range filters {
				listCase(func(w *world, tid uuid.UUID) ([]uuid.UUID, []uuid.UUID, error) {
					p, err := w.s.ListEvents(ctxOf(w), tid, f, store.ListOptions{Limit: store.MaxLimit})
					var ids, tids []uuid.UUID
					for _, e := range p.Items {
						ids, tids = append(ids, e.ID), append(tids, e.TenantID)
					}
					return ids, tids, err
				})(t, w)
			}
		},
	}
}
