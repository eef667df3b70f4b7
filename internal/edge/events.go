package edge

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Event kinds.
const (
	KindChange = "change" // an operator's change through the control API (an audit event)
	KindHealth = "health" // an ejection, a return, a backend turning (un)healthy
	KindReload = "reload" // the routing table reloaded or refused
)

// Event is one entry of the edge's event log, kept in memory (the last maxEvents) and
// logged. Changes are audit events: logged with the "audit" attribute.
type Event struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Action string    `json:"action"`           // drain_cluster, eject_backend, reload, ...
	Target string    `json:"target,omitempty"` // region/cluster, region/zone, a backend URL, ...
	Result string    `json:"result"`           // ok, refused, failed, forced
	Detail string    `json:"detail,omitempty"`
	Reason string    `json:"reason,omitempty"` // the operator's reason
	Remote string    `json:"remote,omitempty"` // the control API caller's address
}

// maxEvents is how many events the edge keeps in memory.
const maxEvents = 200

// eventLog is a bounded ring of events; safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	seq    uint64
	events []Event
	logger *slog.Logger
}

func (l *eventLog) add(e Event) Event {
	l.mu.Lock()
	l.seq++
	e.Seq = l.seq
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if len(l.events) == maxEvents {
		copy(l.events, l.events[1:])
		l.events = l.events[:maxEvents-1]
	}
	l.events = append(l.events, e)
	l.mu.Unlock()

	attrs := []any{"kind", e.Kind, "action", e.Action, "target", e.Target, "result", e.Result}
	if e.Detail != "" {
		attrs = append(attrs, "detail", e.Detail)
	}
	switch e.Kind {
	case KindChange:
		// The audit line: who (the caller's address; the token is one per deployment),
		// what, on what, why, and the outcome.
		l.logger.Info("edge change", slog.Group("audit", append(attrs, "seq", e.Seq, "reason", e.Reason, "remote", e.Remote)...))
	case KindReload:
		level := slog.LevelInfo
		if e.Result != "ok" {
			level = slog.LevelError
		}
		l.logger.Log(context.Background(), level, "edge routing table", attrs...)
	default:
		l.logger.Warn("edge health", attrs...)
	}
	return e
}

// list returns the events after seq after (0: from the oldest kept), oldest first, at
// most limit (0: no limit): the oldest ones, so that a client paging with after set to
// the last Seq it saw misses none (unless they fell out of the ring).
func (l *eventLog) list(after uint64, kind string, limit int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Event{}
	for _, e := range l.events {
		if limit > 0 && len(out) == limit {
			break
		}
		if e.Seq > after && (kind == "" || e.Kind == kind) {
			out = append(out, e)
		}
	}
	return out
}

// tail returns the newest limit events (0: all), oldest first.
func (l *eventLog) tail(kind string, limit int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Event{}
	for i := len(l.events) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		if e := l.events[i]; kind == "" || e.Kind == kind {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}
