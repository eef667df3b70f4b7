package worker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/ninesid/nines/internal/bus"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
)

// Applier is what the worker needs of the primary store (*sqlstore.Store): the
// idempotent transaction and the writes a command's effect makes inside it.
type Applier interface {
	ApplyCommand(ctx context.Context, id, typ string, tenantID uuid.UUID, fn func(tx *sql.Tx) error) (bool, error)
	RecordSignInTx(ctx context.Context, tx *sql.Tx, tenantID, userID uuid.UUID, at time.Time) error
	SetPasswordHashTx(ctx context.Context, tx *sql.Tx, tenantID, userID uuid.UUID, hash string) error
	InsertEventTx(ctx context.Context, tx *sql.Tx, tenantID uuid.UUID, e event.Event) (event.Event, error)
}

// Defaults of Config.
const (
	DefaultMaxDeliver = 5
	DefaultAckWait    = 30 * time.Second
	DefaultDurable    = "worker"
	// DefaultBatch is how many messages the consumer keeps pulled ahead of the one
	// being applied; each waits its AckWait from delivery, so keep it small.
	DefaultBatch = 32
)

// DefaultBackoff is the pause before each retry of a failed command.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// Config configures a Worker. JS, Prefix and Store are required.
type Config struct {
	JS     jetstream.JetStream
	Prefix string // namespace of streams and subjects: "<prefix>_commands", "<prefix>.cmd.>"
	Store  Applier
	// MaxDeliver is how many deliveries a command gets before it is dead-lettered
	// (0: DefaultMaxDeliver).
	MaxDeliver int
	// Backoff is the pause before the n-th retry (the last entry repeats); nil:
	// DefaultBackoff. It is both the Nak delay and the consumer's BackOff.
	Backoff []time.Duration
	AckWait time.Duration // 0: DefaultAckWait; one attempt to apply a command gets half of it
	Durable string        // consumer name; "": DefaultDurable
	Logger  *slog.Logger  // nil: slog.Default()
	Now     func() time.Time
}

// Stats are the worker's counters since it started (exported as metrics by the caller).
type Stats struct {
	Applied      uint64 // commands whose effect committed
	Duplicates   uint64 // deliveries of commands already applied (redeliveries, replays)
	Retried      uint64 // deliveries that failed for the command's own sake and were Nak'ed for a later retry
	StoreWaits   uint64 // attempts that found the store unavailable: retried in place, never counted
	DeadLettered uint64 // commands moved to the dead-letter stream
}

// Worker consumes and applies commands. Create it with New; Run it once.
type Worker struct {
	js         jetstream.JetStream
	prefix     string
	store      Applier
	maxDeliver int
	backoff    []time.Duration
	ackWait    time.Duration
	durable    string
	log        *slog.Logger
	now        func() time.Time
	dlq        *DLQ

	applied, duplicates, retried, dead, storeWaits atomic.Uint64

	latency *prometheus.HistogramVec // nines_worker_command_latency_seconds by type (latency.go)

	// afterCommit, when set (tests), runs after a command's transaction committed and
	// before its acknowledgement; true simulates a crash there (no acknowledgement).
	afterCommit func(cmd command.Command) (crash bool)
}

// New returns a Worker for cfg, filling defaults.
func New(cfg Config) *Worker {
	w := &Worker{js: cfg.JS, prefix: cfg.Prefix, store: cfg.Store, maxDeliver: cfg.MaxDeliver,
		backoff: cfg.Backoff, ackWait: cfg.AckWait, durable: cfg.Durable, log: cfg.Logger, now: cfg.Now,
		latency: newLatency()}
	if w.maxDeliver <= 0 {
		w.maxDeliver = DefaultMaxDeliver
	}
	if len(w.backoff) == 0 {
		w.backoff = DefaultBackoff
	}
	if w.ackWait <= 0 {
		w.ackWait = DefaultAckWait
	}
	if w.durable == "" {
		w.durable = DefaultDurable
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.dlq = NewDLQ(cfg.JS, cfg.Prefix)
	return w
}

// DLQ returns the worker's dead-letter queue (for the admin API).
func (w *Worker) DLQ() *DLQ { return w.dlq }

// Stats returns the counters.
func (w *Worker) Stats() Stats {
	return Stats{Applied: w.applied.Load(), Duplicates: w.duplicates.Load(), Retried: w.retried.Load(),
		DeadLettered: w.dead.Load(), StoreWaits: w.storeWaits.Load()}
}

// consumerConfig is the durable pull consumer. The server's MaxDeliver is two above the
// worker's: the worker dead-letters at its own count, and the spare deliveries make sure
// a worker that dies during the last attempt (or fails to reach the dead-letter stream)
// sees the command once more instead of the server silently giving up on it.
func (w *Worker) consumerConfig() jetstream.ConsumerConfig {
	// BackOff[n] is how long the server waits for the ack of delivery n+1 before it
	// redelivers (it replaces AckWait): the time to apply, plus the retry pause.
	backoff := []time.Duration{w.ackWait}
	for n := 1; n < w.maxDeliver; n++ {
		backoff = append(backoff, w.ackWait+w.backoffFor(n))
	}
	return jetstream.ConsumerConfig{
		Durable:       w.durable,
		Description:   "applies login-tier commands on the primary",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.ackWait,
		MaxDeliver:    w.maxDeliver + 2,
		BackOff:       backoff,
		FilterSubject: bus.SubjectFilter(w.prefix),
		MaxAckPending: 4 * DefaultBatch,
	}
}

// backoffFor is the pause after the n-th failed delivery (n ≥ 1).
func (w *Worker) backoffFor(n int) time.Duration {
	i := min(max(n-1, 0), len(w.backoff)-1)
	return w.backoff[i]
}

// Run consumes until ctx ends, then returns nil; it returns an error when it cannot set
// up its consumer or the dead-letter stream (other than by ctx ending meanwhile). The
// commands stream must exist (bus.EnsureStream).
//
// It alternates between two modes. Flowing: messages are pulled ahead in batches and
// applied one by one. Held (the circuit is open): an attempt found the store
// unavailable, so the worker stops pulling, keeps the message that failed and the ones
// already pulled behind it, extends their AckWait, and retries the first in place until
// the store answers; then it settles the rest and flows again (hold.go).
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.prepare(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while setting up: nothing was pulled
		}
		return err
	}
	w.log.InfoContext(ctx, "worker consuming", "stream", bus.StreamName(w.prefix), "consumer", w.durable,
		"max_deliver", w.maxDeliver)
	for ctx.Err() == nil {
		held, err := w.consume(ctx, cons)
		if errors.Is(err, errIteratorClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		w.hold(ctx, held)
	}
	return nil
}

// Prepare creates (or finds) the dead-letter stream and the worker's durable consumer.
// Run does it too; a caller that must know before serving that the worker can consume
// calls it first (both steps are idempotent).
func (w *Worker) Prepare(ctx context.Context) error {
	_, err := w.prepare(ctx)
	return err
}

func (w *Worker) prepare(ctx context.Context) (jetstream.Consumer, error) {
	if err := w.dlq.Ensure(ctx); err != nil {
		return nil, err
	}
	cons, err := w.js.CreateOrUpdateConsumer(ctx, bus.StreamName(w.prefix), w.consumerConfig())
	if err != nil {
		return nil, fmt.Errorf("worker: consumer %s on %s: %w", w.durable, bus.StreamName(w.prefix), err)
	}
	return cons, nil
}

// consume pulls and applies messages until ctx ends (nil, nil), the consumer cannot go
// on (an error), or an attempt finds the store unavailable: it then stops pulling and
// returns the message that failed followed by those already pulled, none settled.
// Messages pulled ahead when ctx ends are handed back to the broker (Nak) for the next
// worker.
func (w *Worker) consume(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	it, err := cons.Messages(jetstream.PullMaxMessages(DefaultBatch))
	if err != nil {
		return nil, fmt.Errorf("worker: consume: %w", err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		switch {
		case ctx.Err() != nil:
			if err == nil {
				w.release([]jetstream.Msg{msg})
			}
			w.release(w.drain(it))
			return nil, nil
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) && !errors.Is(err, nats.ErrConnectionClosed):
			return nil, errIteratorClosed
		case errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConsumerDeleted):
			return nil, fmt.Errorf("worker: consume: %w", err)
		case err != nil:
			// Heartbeat misses and similar are reported and survived by the iterator;
			// the pause keeps a persistent one from spinning.
			w.log.WarnContext(ctx, "worker: pull failed", "error", err.Error())
			sleep(ctx, 100*time.Millisecond) // ctx ending is the next Next's first case
			continue
		}
		switch w.handle(ctx, msg) {
		case settled:
		case stopping:
			w.release([]jetstream.Msg{msg})
		case storeDown:
			return append([]jetstream.Msg{msg}, w.drain(it)...), nil
		}
	}
}

// errIteratorClosed: the iterator was closed by something other than ctx; Run ends.
var errIteratorClosed = errors.New("worker: message iterator closed")

// drain stops it pulling and returns the messages it had already pulled, waiting at
// most a second for each (the connection may be down). One that arrives later is left
// to the broker's redelivery.
func (w *Worker) drain(it jetstream.MessagesContext) []jetstream.Msg {
	it.Drain()
	var out []jetstream.Msg
	for {
		msg, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			return out
		}
		out = append(out, msg)
	}
}

// release hands unsettled messages back to the broker for immediate redelivery (to
// this worker later or another one now). A Nak is not an acknowledgement: the command
// was not applied, or its record makes the redelivery a duplicate.
func (w *Worker) release(msgs []jetstream.Msg) {
	for _, msg := range msgs {
		if err := msg.Nak(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			w.log.Debug("worker: release failed; the broker redelivers after AckWait", "subject", msg.Subject(),
				"error", err.Error())
		}
	}
}

// outcome is what handle did with a delivery.
type outcome int

const (
	settled   outcome = iota // acknowledged, Nak'ed for a retry, or dead-lettered
	storeDown                // not settled: the store is unavailable (infrastructure)
	stopping                 // not settled: ctx ended
)

// handle applies one delivery and settles it: ack, nak with delay, or dead letter. An
// infrastructure failure (the store unavailable, an attempt out of time) settles
// nothing and never counts toward MaxDeliver: only application failures are Nak'ed,
// and the broker's delivery count is what reaches MaxDeliver.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) outcome {
	deliveries := 1
	if md, err := msg.Metadata(); err == nil {
		deliveries = int(md.NumDelivered)
	}
	cmd, err := command.Decode(msg.Data())
	if err != nil {
		if env, envErr := command.DecodeEnvelope(msg.Data()); envErr == nil {
			cmd = env // names the command in the dead letter and the log
		}
		w.deadLetter(ctx, msg, cmd, err, deliveries)
		return settled
	}
	actx, cancel := context.WithTimeout(ctx, w.attemptTimeout())
	applied, err := w.apply(actx, cmd)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return stopping // the transaction rolled back (or committed: its record dedupes)
	case infrastructure(err):
		w.storeWaits.Add(1)
		w.log.WarnContext(ctx, "worker: store unavailable; holding the command", "command", cmd,
			"delivery", deliveries, "transient", true, "error", err.Error())
		return storeDown
	case permanent(err):
		w.deadLetter(ctx, msg, cmd, err, deliveries)
		return settled
	case deliveries >= w.maxDeliver:
		w.deadLetter(ctx, msg, cmd, err, deliveries)
		return settled
	default:
		w.retried.Add(1)
		delay := w.backoffFor(deliveries)
		w.log.WarnContext(ctx, "worker: command failed; will retry", "command", cmd, "delivery", deliveries,
			"retry_in", delay.String(), "error", err.Error())
		if err := msg.NakWithDelay(delay); err != nil {
			w.log.WarnContext(ctx, "worker: nak failed; the broker redelivers after AckWait", "command", cmd,
				"error", err.Error())
		}
		return settled
	}
	if applied {
		w.applied.Add(1)
		w.observeLatency(cmd)
	} else {
		w.duplicates.Add(1)
		w.log.DebugContext(ctx, "worker: command already applied", "command", cmd, "delivery", deliveries)
	}
	if w.afterCommit != nil && w.afterCommit(cmd) {
		return settled
	}
	if err := msg.DoubleAck(ctx); err != nil {
		// Committed but not acknowledged: the broker redelivers it, and the record of
		// the command makes that delivery a duplicate.
		w.log.WarnContext(ctx, "worker: ack failed after commit", "command", cmd, "error", err.Error())
	}
	return settled
}

// infrastructure errors say nothing about the command: the store could not be reached
// or did not answer in time. They are retried in place for as long as it takes.
func infrastructure(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// permanent errors cannot go away by retrying: the command is invalid or what it is
// about (tenant, user) no longer exists.
func permanent(err error) bool {
	return errors.Is(err, command.ErrInvalid) || errors.Is(err, store.ErrNotFound)
}

// apply runs cmd's effect in one ApplyCommand transaction.
func (w *Worker) apply(ctx context.Context, cmd command.Command) (bool, error) {
	p, err := cmd.Payload()
	if err != nil {
		return false, err
	}
	eventID, err := uuid.Parse(cmd.ID) // a canonical UUIDv7 (Decode checked): one event per command
	if err != nil {
		return false, fmt.Errorf("%w: id: %v", command.ErrInvalid, err)
	}
	s := w.store
	return s.ApplyCommand(ctx, cmd.ID, cmd.Type, cmd.TenantID, func(tx *sql.Tx) error {
		tid := cmd.TenantID
		switch p := p.(type) {
		case command.SignedIn:
			if err := s.RecordSignInTx(ctx, tx, tid, p.UserID, p.At); err != nil {
				return err
			}
			_, err := s.InsertEventTx(ctx, tx, tid, event.Event{ID: eventID, Type: event.TypeSignedIn,
				UserID: p.UserID, At: p.At})
			return err
		case command.PasswordRehashed:
			return s.SetPasswordHashTx(ctx, tx, tid, p.UserID, p.Hash)
		case command.SignInFailed:
			data, err := jsonObject(map[string]string{"source_digest": p.SourceDigest, "reason": p.Reason})
			if err != nil {
				return err
			}
			_, err = s.InsertEventTx(ctx, tx, tid, event.Event{ID: eventID, Type: event.TypeSignInFailed,
				UserID: p.UserID, At: p.At, Data: data})
			return err
		case command.AuditEvent:
			data, err := jsonObject(auditData{Actor: p.Actor, Subject: p.Subject, Details: p.Details})
			if err != nil {
				return err
			}
			_, err = s.InsertEventTx(ctx, tx, tid, event.Event{ID: eventID, Type: p.Type,
				UserID: subjectUser(p.Subject), At: cmd.At, Data: data})
			return err
		}
		return fmt.Errorf("%w: no effect for %s v%d", command.ErrUnknownType, cmd.Type, cmd.Version)
	})
}
