package worker

import (
	"context"
	"errors"
	"fmt"
	"github.com/ninesid/nines/internal/bus"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/command"
)

// Headers of a dead letter. The original headers (Nats-Msg-Id among them) are kept.
const (
	HeaderError      = "Nines-Error"      // why it was dead-lettered (never the payload)
	HeaderDeliveries = "Nines-Deliveries" // deliveries when it was dead-lettered
	HeaderSubject    = "Nines-Subject"    // the subject it was published to
	HeaderCommandID  = "Nines-Command-Id" // the command ID when it decoded that far
	HeaderType       = "Nines-Command-Type"
	HeaderTenant     = "Nines-Tenant"
	HeaderDeadAt     = "Nines-Dead-At" // RFC 3339
)

// DeadLetterMaxMsgs bounds the dead-letter stream; the oldest go first beyond it.
const DeadLetterMaxMsgs = 100_000

// ErrNoDeadLetter: no dead letter has that ID.
var ErrNoDeadLetter = errors.New("worker: no such dead letter")

// DeadLetter describes one dead-lettered command, without its data (which may hold a
// password hash).
type DeadLetter struct {
	ID         uint64    `json:"id"` // the sequence in the dead-letter stream
	CommandID  string    `json:"command_id,omitempty"`
	Type       string    `json:"type,omitempty"`
	TenantID   string    `json:"tenant_id,omitempty"`
	Subject    string    `json:"subject"`
	Error      string    `json:"error"`
	Deliveries int       `json:"deliveries"`
	DeadAt     time.Time `json:"dead_at"`
}

// DLQ is the dead-letter stream "<prefix>_deadletters" (subjects "<prefix>.dlq.>"):
// a plain limits stream, read by sequence.
type DLQ struct {
	js     jetstream.JetStream
	prefix string
}

// NewDLQ returns the dead-letter queue of prefix.
func NewDLQ(js jetstream.JetStream, prefix string) *DLQ { return &DLQ{js: js, prefix: prefix} }

func (q *DLQ) stream() string   { return q.prefix + "_deadletters" }
func (q *DLQ) subjects() string { return q.prefix + ".dlq.>" }

// Ensure creates or updates the dead-letter stream. Its replicas follow the commands
// stream's, which the bus created.
func (q *DLQ) Ensure(ctx context.Context) error {
	replicas := 1
	if s, err := q.js.Stream(ctx, bus.StreamName(q.prefix)); err == nil {
		replicas = s.CachedInfo().Config.Replicas
	}
	_, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        q.stream(),
		Description: "commands the worker could not apply",
		Subjects:    []string{q.subjects()},
		Retention:   jetstream.LimitsPolicy,
		MaxMsgs:     DeadLetterMaxMsgs,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("worker: dead-letter stream %s: %w", q.stream(), err)
	}
	return nil
}

// put copies msg to the dead-letter stream with cause and the delivery count. Its
// Nats-Msg-Id is the original's, so a command dead-lettered twice (a crash between the
// copy and the ack) is stored once within the duplicate window.
func (q *DLQ) put(ctx context.Context, msg jetstream.Msg, cmd command.Command, cause error, deliveries int, now time.Time) error {
	out := nats.NewMsg(q.prefix + ".dlq." + subjectTail(msg.Subject(), q.prefix))
	for k, vs := range msg.Headers() {
		out.Header[k] = append([]string(nil), vs...)
	}
	out.Header.Set(HeaderError, headerValue(cause.Error()))
	out.Header.Set(HeaderDeliveries, strconv.Itoa(deliveries))
	out.Header.Set(HeaderSubject, msg.Subject())
	out.Header.Set(HeaderDeadAt, now.UTC().Format(time.RFC3339Nano))
	if cmd.ID != "" {
		out.Header.Set(HeaderCommandID, cmd.ID)
		out.Header.Set(HeaderType, cmd.Type)
		out.Header.Set(HeaderTenant, cmd.TenantID.String())
	}
	out.Data = msg.Data()
	_, err := q.js.PublishMsg(ctx, out)
	return err
}

// subjectTail is the part of a command subject after "<prefix>.cmd.", or the whole
// subject.
func subjectTail(subject, prefix string) string {
	if t, ok := strings.CutPrefix(subject, prefix+".cmd."); ok && t != "" {
		return t
	}
	return "unknown"
}

// DefaultListLimit is List's page size when limit is not positive.
const DefaultListLimit = 50

// List returns at most limit dead letters with IDs above after, oldest first, and the
// cursor of the next page (0 when this is the last).
func (q *DLQ) List(ctx context.Context, after uint64, limit int) ([]DeadLetter, uint64, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	s, err := q.js.Stream(ctx, q.stream())
	if err != nil {
		return nil, 0, fmt.Errorf("worker: dead-letter stream: %w", err)
	}
	out := []DeadLetter{}
	seq := after + 1
	for range limit + 1 {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(q.subjects()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("worker: read dead letter: %w", err)
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, nil
		}
		out = append(out, toDeadLetter(m))
		seq = m.Sequence + 1
	}
	return out, 0, nil
}

func toDeadLetter(m *jetstream.RawStreamMsg) DeadLetter {
	h := m.Header
	d := DeadLetter{ID: m.Sequence, CommandID: h.Get(HeaderCommandID), Type: h.Get(HeaderType),
		TenantID: h.Get(HeaderTenant), Subject: h.Get(HeaderSubject), Error: h.Get(HeaderError)}
	d.Deliveries, _ = strconv.Atoi(h.Get(HeaderDeliveries))
	d.DeadAt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderDeadAt))
	if d.DeadAt.IsZero() {
		d.DeadAt = m.Time.UTC()
	}
	return d
}

// Replay republishes the dead letter id to the subject it came from and removes it from
// the dead-letter stream. The copy keeps the command, so the record of applied commands
// makes a replay harmless if the command had been applied after all, and a replay
// repeated (a crash between publish and removal) applies it once. Its Nats-Msg-Id is
// "<original>.replay.<id>": the original ID would be dropped by the commands stream's
// duplicate window for a command dead-lettered within it.
func (q *DLQ) Replay(ctx context.Context, id uint64) error {
	s, err := q.js.Stream(ctx, q.stream())
	if err != nil {
		return fmt.Errorf("worker: dead-letter stream: %w", err)
	}
	m, err := s.GetMsg(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return ErrNoDeadLetter
	case err != nil:
		return fmt.Errorf("worker: read dead letter %d: %w", id, err)
	}
	subject := m.Header.Get(HeaderSubject)
	if !strings.HasPrefix(subject, q.prefix+".cmd.") {
		return fmt.Errorf("worker: dead letter %d has no command subject", id)
	}
	out := nats.NewMsg(subject)
	for k, vs := range m.Header {
		if !strings.HasPrefix(k, "Nines-") {
			out.Header[k] = append([]string(nil), vs...)
		}
	}
	msgID := m.Header.Get(jetstream.MsgIDHeader)
	if msgID == "" {
		msgID = "dlq"
	}
	out.Header.Set(jetstream.MsgIDHeader, msgID+".replay."+strconv.FormatUint(id, 10))
	out.Data = m.Data
	if _, err := q.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("worker: replay dead letter %d: %w", id, err)
	}
	if err := s.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("worker: remove replayed dead letter %d: %w", id, err)
	}
	return nil
}

// deadLetter moves msg to the dead-letter stream, logs and counts it, and acknowledges
// it. When the copy fails the message is left to the broker's redelivery (the
// consumer's MaxDeliver has room for it).
func (w *Worker) deadLetter(ctx context.Context, msg jetstream.Msg, cmd command.Command, cause error, deliveries int) {
	if err := w.dlq.put(ctx, msg, cmd, cause, deliveries, w.now()); err != nil {
		w.log.ErrorContext(ctx, "worker: dead-lettering failed; the broker will redeliver", "subject", msg.Subject(),
			"command_id", cmd.ID, "error", err.Error())
		_ = msg.NakWithDelay(w.backoffFor(deliveries))
		return
	}
	w.dead.Add(1)
	w.log.ErrorContext(ctx, "worker: command dead-lettered", "subject", msg.Subject(), "command_id", cmd.ID,
		"type", cmd.Type, "tenant", cmd.TenantID.String(), "deliveries", deliveries, "error", cause.Error())
	if err := msg.DoubleAck(ctx); err != nil {
		w.log.WarnContext(ctx, "worker: ack of a dead letter failed", "subject", msg.Subject(), "error", err.Error())
	}
}

// headerValue makes s a safe header value: one line, at most 1 KiB.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = strings.ToValidUTF8(s[:1024], "")
	}
	return s
}
