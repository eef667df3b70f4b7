package worker

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/ninesid/nines/internal/bus"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// outage is how switchStore fails while it is down.
type outage int

const (
	up          outage = iota
	unavailable        // answers store.ErrUnavailable at once, as a stopped primary does
	hanging            // never answers: the call ends with its context
)

// switchStore is the real store behind a switch that takes it down; it counts the
// attempts per command ID.
type switchStore struct {
	*sqlstore.Store
	mode  atomic.Int32
	mu    sync.Mutex
	calls map[string]int
}

func (s *switchStore) set(m outage) { s.mode.Store(int32(m)) }

func (s *switchStore) ApplyCommand(ctx context.Context, id, typ string, tenantID uuid.UUID, fn func(tx *sql.Tx) error) (bool, error) {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[id]++
	s.mu.Unlock()
	switch outage(s.mode.Load()) {
	case unavailable:
		return false, fmt.Errorf("primary down: %w", store.ErrUnavailable)
	case hanging:
		<-ctx.Done()
		return false, fmt.Errorf("sqlstore: begin: %w", ctx.Err())
	}
	return s.Store.ApplyCommand(ctx, id, typ, tenantID, fn)
}

// attempted is how many distinct commands were attempted.
func (s *switchStore) attempted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// consumerInfo is the worker's durable consumer as the broker sees it.
func (e *env) consumerInfo() *jetstream.ConsumerInfo {
	e.t.Helper()
	c, err := e.js.Consumer(context.Background(), bus.StreamName(testPrefix), DefaultDurable)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// TestStoreOutageNeverDeadLetters: a store that is down for longer than the worker's
// whole retry schedule (MaxDeliver × Backoff) and than the broker's redelivery horizon
// (MaxDeliver+2 deliveries, each AckWait plus the backoff) dead-letters nothing: each
// worker holds the command it found the store down on, extends its AckWait, pulls
// nothing more, and when the store returns every command is applied exactly once. Both kinds of outage: a store
// that refuses at once, and one that never answers (the attempt's deadline).
func TestStoreOutageNeverDeadLetters(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode outage
	}{
		{name: "unavailable", mode: unavailable},
		{name: "hanging", mode: hanging},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ss := &switchStore{Store: e.store}
			ss.set(tt.mode)
			cfg := e.config(ss)
			// Short, so the outage outlasts many AckWaits; not so short that a loaded
			// machine (2 shared cores, -race) delays the first InProgress of the messages
			// pulled behind the failing one past it: 500 ms and 1 s flaked at a load
			// average of 10 (the test's duration grows with it: 5 AckWaits, twice).
			cfg.AckWait = 2 * time.Second
			w := New(cfg)
			e.start(w)
			must := mustCmd(t)
			var cmds []command.Command
			publish := func(n int) {
				for range n {
					c := must(command.NewSignedIn(e.tn.ID, e.u.ID, t0.Add(time.Duration(len(cmds))*time.Second)))
					e.publish(c, "")
					cmds = append(cmds, c)
				}
			}
			publish(3)
			e.waitFor("the worker to find the store down", func() bool { return w.Stats().StoreWaits >= 1 })
			publish(3) // after the circuit opened: not pulled by w while the store is down

			// The outage outlasts the worker's schedule and the broker's horizon. Halfway,
			// a peer worker (another replica) starts pulling from the same consumer: had w
			// let the AckWait of its held command expire, the broker would redeliver that
			// command to the peer first.
			horizon := max(time.Duration(cfg.MaxDeliver)*cfg.Backoff[0],
				time.Duration(cfg.MaxDeliver+2)*(cfg.AckWait+cfg.Backoff[0]))
			time.Sleep(horizon) // nothing here measures time
			if n := e.consumerInfo().NumPending; n < 3 {
				t.Errorf("%d messages not yet delivered, want at least the 3 published after the circuit opened", n)
			}
			peer := New(cfg)
			e.start(peer)
			e.waitFor("the peer to find the store down", func() bool { return peer.Stats().StoreWaits >= 1 })
			time.Sleep(horizon)

			for name, s := range map[string]Stats{"worker": w.Stats(), "peer": peer.Stats()} {
				if s.DeadLettered != 0 || s.Retried != 0 || s.Applied != 0 || s.StoreWaits < 2 {
					t.Errorf("%s during the outage: stats %+v, want only waits for the store", name, s)
				}
			}
			if n := ss.attempted(); n != 2 {
				t.Errorf("%d commands attempted during the outage, want 2 (each worker's circuit holds one, "+
					"and no held command was redelivered)", n)
			}
			info := e.consumerInfo()
			if info.NumRedelivered != 0 {
				t.Errorf("the broker redelivered %d messages during the outage: AckWait was not extended", info.NumRedelivered)
			}

			ss.set(up)
			e.waitFor("every command applied", func() bool {
				return w.Stats().Applied+peer.Stats().Applied == uint64(len(cmds))
			})
			e.waitFor("the stream drained", func() bool { return e.pending() == 0 })
			for name, s := range map[string]Stats{"worker": w.Stats(), "peer": peer.Stats()} {
				if s.DeadLettered != 0 || s.Duplicates != 0 || s.Retried != 0 {
					t.Errorf("%s after the outage: stats %+v, want commands applied once, nothing else", name, s)
				}
			}
			for _, c := range cmds {
				if !e.applied(c.ID) {
					t.Errorf("command %s not applied", c.ID)
				}
			}
			if n := len(e.events(event.Filter{})); n != len(cmds) {
				t.Errorf("%d events, want %d", n, len(cmds))
			}
			if dl, _, err := w.DLQ().List(context.Background(), 0, 10); err != nil || len(dl) != 0 {
				t.Errorf("dead letters %+v (%v), want none", dl, err)
			}
			if n := e.consumerInfo().NumRedelivered; n != 0 {
				t.Errorf("%d redeliveries, want none", n)
			}
		})
	}
}

// TestStopWhileStoreDown: a worker stopped while it holds a command for a store that is
// down acknowledges nothing; the command goes back to the broker and the next worker
// applies it, once.
func TestStopWhileStoreDown(t *testing.T) {
	e := newEnv(t)
	ss := &switchStore{Store: e.store}
	ss.set(unavailable)
	cfg := e.config(ss)
	first := New(cfg)
	stopFirst := e.start(first)
	c := mustCmd(t)(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	e.publish(c, "")
	e.waitFor("the command held and retried in place", func() bool { return first.Stats().StoreWaits >= 3 })
	stopFirst()
	if e.pending() != 1 || e.applied(c.ID) {
		t.Fatalf("after the stop: %d messages in the stream (want 1), applied %v (want false)", e.pending(), e.applied(c.ID))
	}
	if s := first.Stats(); s.Applied != 0 || s.DeadLettered != 0 || s.Retried != 0 {
		t.Errorf("first worker: stats %+v", s)
	}

	ss.set(up)
	second := New(cfg)
	e.start(second)
	e.waitFor("the next worker to apply it", func() bool { return second.Stats().Applied == 1 })
	e.waitFor("the stream drained", func() bool { return e.pending() == 0 })
	if s := second.Stats(); s.Duplicates != 0 || s.DeadLettered != 0 {
		t.Errorf("second worker: stats %+v", s)
	}
	if n := len(e.events(event.Filter{})); n != 1 || !e.user().LastLoginAt.Equal(t0) {
		t.Errorf("%d events (want 1), last login %v", n, e.user().LastLoginAt)
	}
}
