package changes

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Handler takes one change. It runs on the subscription's delivery goroutine, one
// change at a time, so it must return quickly: start slow work (a reload with retries)
// in the background.
type Handler func(Change)

// Bounds of the messages waiting for the handler; beyond them the client drops messages
// (a slow consumer), which the TTLs cover like any lost change.
const (
	pendingMsgsLimit  = 4096
	pendingBytesLimit = pendingMsgsLimit * MaxMessageBytes
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	Conn   *nats.Conn // required
	Prefix string     // subject namespace; "" is DefaultPrefix
	// Handlers has one handler per kind this process acts on (at least one); changes of
	// other kinds are dropped and counted.
	Handlers map[Kind]Handler
	Logger   *slog.Logger // nil: slog.Default()
}

// Subscriber receives the changes of every kind under a prefix and hands each to the
// handler of its kind.
type Subscriber struct {
	sub      *nats.Subscription
	prefix   string
	handlers map[Kind]Handler
	log      *slog.Logger

	handled, malformed, oversized, unknownKind, unknownFields atomic.Uint64
}

// Subscribe subscribes to SubjectFilter(cfg.Prefix). Close it before the connection
// closes.
func Subscribe(cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.Conn == nil {
		return nil, errors.New("changes: SubscriberConfig.Conn is required")
	}
	if len(cfg.Handlers) == 0 {
		return nil, errors.New("changes: SubscriberConfig.Handlers is empty")
	}
	s := &Subscriber{prefix: orDefault(cfg.Prefix), handlers: map[Kind]Handler{}, log: cfg.Logger}
	for k, h := range cfg.Handlers {
		if h == nil || !kindPattern.MatchString(string(k)) {
			return nil, fmt.Errorf("changes: no handler, or an invalid kind, for %q", k)
		}
		s.handlers[k] = h
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	sub, err := cfg.Conn.Subscribe(SubjectFilter(s.prefix), s.receive)
	if err != nil {
		return nil, fmt.Errorf("changes: subscribe: %w", err)
	}
	if err := sub.SetPendingLimits(pendingMsgsLimit, pendingBytesLimit); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("changes: subscribe: %w", err)
	}
	s.sub = sub
	return s, nil
}

// receive decodes one message and calls its kind's handler. Nothing in a message is
// logged above debug: a flood of bad messages must not flood the log; the counters show
// it.
func (s *Subscriber) receive(m *nats.Msg) {
	kind, _ := strings.CutPrefix(m.Subject, s.prefix+".changes.")
	c, unknown, err := decode(m.Data)
	switch {
	case errors.Is(err, errOversized):
		s.oversized.Add(1)
		s.log.Debug("change dropped", "subject", m.Subject, "bytes", len(m.Data), "error", err.Error())
		return
	case err == nil && string(c.Kind) != kind:
		err = fmt.Errorf("%w: kind %q on subject %q", errDecode, c.Kind, m.Subject)
		fallthrough
	case err != nil:
		s.malformed.Add(1)
		s.log.Debug("change dropped", "subject", m.Subject, "error", err.Error())
		return
	}
	if unknown > 0 {
		s.unknownFields.Add(1)
	}
	h, ok := s.handlers[c.Kind]
	if !ok {
		s.unknownKind.Add(1)
		s.log.Debug("change of a kind this process does not handle", "kind", string(c.Kind))
		return
	}
	s.handled.Add(1)
	h(c)
}

// Close unsubscribes; no handler is called after it returns, except the one running.
// It is safe on a nil Subscriber.
func (s *Subscriber) Close() error {
	if s == nil {
		return nil
	}
	if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) &&
		!errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("changes: unsubscribe: %w", err)
	}
	return nil
}

// SubscriberStats are a Subscriber's counters since it subscribed.
type SubscriberStats struct {
	Handled       uint64 // handed to a handler
	Malformed     uint64 // dropped: not a valid change (see the package comment)
	Oversized     uint64 // dropped: larger than MaxMessageBytes
	UnknownKind   uint64 // dropped: no handler for the kind
	UnknownFields uint64 // changes with members this version does not know (still handled)
}

// Stats returns the counters.
func (s *Subscriber) Stats() SubscriberStats {
	return SubscriberStats{Handled: s.handled.Load(), Malformed: s.malformed.Load(), Oversized: s.oversized.Load(),
		UnknownKind: s.unknownKind.Load(), UnknownFields: s.unknownFields.Load()}
}
