package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/ninesid/nines/internal/bus"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
)

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// TestEffects: each command type has its effect, and a sign-in only moves forward.
func TestEffects(t *testing.T) {
	e := newEnv(t)
	w := New(e.config(nil))
	e.start(w)
	must := mustCmd(t)
	later := must(command.NewSignedIn(e.tn.ID, e.u.ID, t0.Add(time.Hour)))
	earlier := must(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	failed := must(command.NewSignInFailed(e.tn.ID, e.u.ID, strings.Repeat("ab", 16), "invalid_credentials", t0))
	const hash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"
	rehash := must(command.NewPasswordRehashed(e.tn.ID, e.u.ID, hash, t0))
	audit := must(command.NewAuditEvent(e.tn.ID, t0, command.AuditEvent{Type: "consent.granted",
		Actor: "user:" + e.u.ID.String(), Subject: "user:" + e.u.ID.String(), Details: map[string]string{"client_id": "web"}}))
	for _, c := range []command.Command{later, earlier, failed, rehash, audit} {
		e.publish(c, "")
	}
	e.waitFor("five commands applied", func() bool { return w.Stats().Applied == 5 })
	u := e.user()
	if !u.LastLoginAt.Equal(t0.Add(time.Hour)) || u.PasswordHash != hash || u.Version != e.u.Version {
		t.Errorf("user: last login %v (want %v), hash set %v, version %d (want %d)", u.LastLoginAt, t0.Add(time.Hour),
			u.PasswordHash == hash, u.Version, e.u.Version)
	}
	evs := e.events(event.Filter{})
	byType := map[string]int{}
	for _, ev := range evs {
		byType[ev.Type]++
		if ev.UserID != e.u.ID {
			t.Errorf("event %s about %v, want the user", ev.Type, ev.UserID)
		}
		if strings.Contains(string(ev.Data), hash) {
			t.Errorf("event %s holds the password hash", ev.Type)
		}
	}
	if byType[event.TypeSignedIn] != 2 || byType[event.TypeSignInFailed] != 1 || byType["consent.granted"] != 1 || len(evs) != 4 {
		t.Errorf("events by type %v, want 2 sign-ins, 1 failure, 1 consent", byType)
	}
	got := e.events(event.Filter{Type: "consent.granted"})
	var data struct {
		Actor, Subject string
		Details        map[string]string
	}
	if len(got) != 1 || json.Unmarshal(got[0].Data, &data) != nil || data.Details["client_id"] != "web" || got[0].ID.String() != audit.ID {
		t.Errorf("audit event %+v", got)
	}
	if strings.Contains(e.logs.String(), hash) {
		t.Error("the log holds the password hash")
	}
}

// TestDuplicateDelivery: the same command published twice under different Nats-Msg-Ids
// (so the broker's dedupe cannot drop it) is applied once.
func TestDuplicateDelivery(t *testing.T) {
	e := newEnv(t)
	w := New(e.config(nil))
	e.start(w)
	c := mustCmd(t)(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	e.publish(c, "first")
	e.publish(c, "second")
	e.waitFor("both deliveries settled", func() bool { s := w.Stats(); return s.Applied+s.Duplicates == 2 })
	if s := w.Stats(); s.Applied != 1 || s.Duplicates != 1 {
		t.Errorf("stats %+v, want 1 applied and 1 duplicate", s)
	}
	if n := len(e.events(event.Filter{})); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
	if !e.user().LastLoginAt.Equal(t0) {
		t.Errorf("LastLoginAt = %v", e.user().LastLoginAt)
	}
	e.waitFor("the stream drained", func() bool { return e.pending() == 0 })
}

// pending is how many messages the commands stream still holds.
func (e *env) pending() uint64 {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), bus.StreamName(testPrefix))
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// TestCrashAfterCommit: a worker that dies after its transaction committed and before
// the acknowledgement leaves the command to be redelivered; the next worker finds it
// applied and only acknowledges it.
func TestCrashAfterCommit(t *testing.T) {
	e := newEnv(t)
	first := New(e.config(nil))
	crashed := make(chan string, 1)
	first.afterCommit = func(c command.Command) bool {
		select {
		case crashed <- c.ID:
		default:
		}
		return true
	}
	stopFirst := e.start(first)
	c := mustCmd(t)(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	e.publish(c, "")
	var id string
	select {
	case id = <-crashed:
	case <-time.After(30 * time.Second):
		t.Fatal("the first worker never committed")
	}
	stopFirst()
	if id != c.ID || !e.applied(c.ID) || first.Stats().Applied != 1 {
		t.Fatalf("first worker: committed %s (want %s), recorded %v, stats %+v", id, c.ID, e.applied(c.ID), first.Stats())
	}
	if e.pending() != 1 {
		t.Fatalf("the unacknowledged command left the stream")
	}

	second := New(e.config(nil))
	e.start(second)
	e.waitFor("the redelivery", func() bool { return second.Stats().Duplicates == 1 })
	e.waitFor("the stream drained", func() bool { return e.pending() == 0 })
	if s := second.Stats(); s.Applied != 0 {
		t.Errorf("second worker applied it again: %+v", s)
	}
	if n := len(e.events(event.Filter{})); n != 1 {
		t.Errorf("%d sign-in events, want 1", n)
	}
}

// TestTransientFailure: a store that is unavailable for two attempts gets the command
// on the third, retried in place: no Nak, no delivery spent.
func TestTransientFailure(t *testing.T) {
	e := newEnv(t)
	fs := &faultyStore{Store: e.store}
	fs.setFail(func(_ string, call int) error {
		if call <= 2 {
			return fmt.Errorf("primary down: %w", store.ErrUnavailable)
		}
		return nil
	})
	w := New(e.config(fs))
	e.start(w)
	c := mustCmd(t)(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	e.publish(c, "")
	e.waitFor("the command applied", func() bool { return w.Stats().Applied == 1 })
	if s := w.Stats(); s.StoreWaits != 2 || s.Retried != 0 || s.DeadLettered != 0 {
		t.Errorf("stats %+v, want 2 waits for the store, no Nak and no dead letter", s)
	}
	if n := fs.callsOf(c.ID); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if !e.user().LastLoginAt.Equal(t0) {
		t.Errorf("LastLoginAt = %v", e.user().LastLoginAt)
	}
	if !strings.Contains(e.logs.String(), `"transient":true`) {
		t.Error("the retry was not logged as transient")
	}
}

// TestDeadLetters: a command that keeps failing is dead-lettered after MaxDeliver
// deliveries, one that cannot be decoded or whose user is gone at once; the list shows
// them; a replay after the cause is fixed applies the command, once.
func TestDeadLetters(t *testing.T) {
	e := newEnv(t)
	fs := &faultyStore{Store: e.store}
	must := mustCmd(t)
	poison := must(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	fs.setFail(func(id string, _ int) error {
		if id == poison.ID {
			return errBoom
		}
		return nil
	})
	cfg := e.config(fs)
	w := New(cfg)
	e.start(w)
	e.publish(poison, "")
	e.publishRaw(testPrefix+".cmd.user.signed_in", []byte(`{"id":"not a command","secret":"hunter2"}`), "garbage")
	ghost := must(command.NewSignedIn(e.tn.ID, uuid.Must(uuid.NewV7()), t0)) // no such user
	e.publish(ghost, "")
	e.waitFor("three dead letters", func() bool { return w.Stats().DeadLettered == 3 })
	if n := fs.callsOf(poison.ID); n != cfg.MaxDeliver {
		t.Errorf("poison tried %d times, want MaxDeliver = %d", n, cfg.MaxDeliver)
	}
	if n := fs.callsOf(ghost.ID); n != 1 {
		t.Errorf("a command about a missing user was tried %d times, want 1", n)
	}
	e.waitFor("the stream drained", func() bool { return e.pending() == 0 })

	dl, next, err := w.DLQ().List(context.Background(), 0, 10)
	if err != nil || next != 0 || len(dl) != 3 {
		t.Fatalf("List: %d letters, next %d, err %v", len(dl), next, err)
	}
	byCmd := map[string]DeadLetter{}
	for _, d := range dl {
		byCmd[d.CommandID] = d
		if d.Subject != testPrefix+".cmd.user.signed_in" || d.Error == "" || d.DeadAt.IsZero() {
			t.Errorf("dead letter %+v", d)
		}
	}
	if d := byCmd[poison.ID]; d.Deliveries != cfg.MaxDeliver || !strings.Contains(d.Error, errBoom.Error()) ||
		d.Type != command.TypeSignedIn || d.TenantID != e.tn.ID.String() {
		t.Errorf("poison's dead letter %+v", d)
	}
	if d := byCmd[ghost.ID]; d.Deliveries != 1 || !strings.Contains(d.Error, "not found") {
		t.Errorf("ghost's dead letter %+v", d)
	}
	if d := byCmd[""]; d.Deliveries != 1 || !strings.Contains(d.Error, "invalid") {
		t.Errorf("garbage's dead letter %+v", d)
	}
	if strings.Contains(e.logs.String(), "hunter2") {
		t.Error("a dead letter's payload reached the log")
	}
	// Pages of one.
	page, next, err := w.DLQ().List(context.Background(), 0, 1)
	if err != nil || len(page) != 1 || next != page[0].ID {
		t.Errorf("first page of one: %v, next %d, err %v", page, next, err)
	}

	// Fix the cause, replay: applied once; a second replay of the same letter is gone.
	fs.setFail(nil)
	id := byCmd[poison.ID].ID
	if err := w.DLQ().Replay(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the replayed command applied", func() bool { return e.applied(poison.ID) })
	if err := w.DLQ().Replay(context.Background(), id); err != ErrNoDeadLetter {
		t.Errorf("second replay: %v, want ErrNoDeadLetter", err)
	}
	if !e.user().LastLoginAt.Equal(t0) || len(e.events(event.Filter{})) != 1 {
		t.Errorf("after replay: last login %v, %d events", e.user().LastLoginAt, len(e.events(event.Filter{})))
	}
	dl, _, err = w.DLQ().List(context.Background(), 0, 10)
	if err != nil || len(dl) != 2 {
		t.Errorf("after replay: %d letters (err %v), want 2", len(dl), err)
	}
	// Replaying a command that was applied meanwhile changes nothing.
	if err := w.DLQ().Replay(context.Background(), byCmd[ghost.ID].ID); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the ghost dead-lettered again", func() bool { return w.Stats().DeadLettered == 4 })
	if err := w.DLQ().Replay(context.Background(), 1<<40); err != ErrNoDeadLetter {
		t.Errorf("replay of a missing letter: %v", err)
	}
}

// TestConsumer: the durable consumer has explicit acks, a MaxDeliver above the worker's,
// and a BackOff per delivery.
func TestConsumer(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(nil)
	e.start(New(cfg))
	var info *jetstream.ConsumerInfo
	e.waitFor("the consumer", func() bool {
		c, err := e.js.Consumer(context.Background(), bus.StreamName(testPrefix), DefaultDurable)
		if err != nil {
			return false
		}
		info = c.CachedInfo()
		return true
	})
	got := info.Config
	if got.AckPolicy != jetstream.AckExplicitPolicy || got.MaxDeliver != cfg.MaxDeliver+2 ||
		len(got.BackOff) != cfg.MaxDeliver || got.BackOff[0] != cfg.AckWait ||
		got.BackOff[1] != cfg.AckWait+cfg.Backoff[0] || got.FilterSubject != testPrefix+".cmd.>" {
		t.Errorf("consumer config %+v", got)
	}
}
