package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/spool"
)

// Defaults of Config.
const (
	DefaultAckTimeout = 2 * time.Second
	DefaultRetryMin   = 250 * time.Millisecond
	DefaultRetryMax   = 5 * time.Second
	DefaultFlushBatch = 64
	dropLogEvery      = 10 * time.Second
)

var (
	// ErrSpoolFull: the broker did not take the command and the spool had no room for it;
	// its type's policy is Fail, so the caller must fail the request.
	ErrSpoolFull = errors.New("bus: broker unavailable and spool full")
	// ErrRejected: the broker refused the command itself (it is too large for the
	// stream); retrying cannot help.
	ErrRejected = errors.New("bus: command rejected by the broker")
	// ErrClosed: the publisher was closed.
	ErrClosed = errors.New("bus: publisher closed")
)

// CommandPublisher publishes commands; Publisher is the one implementation.
type CommandPublisher interface {
	Publish(ctx context.Context, c command.Command) error
}

// Config configures a Publisher.
type Config struct {
	JS jetstream.JetStream // required
	// Prefix of the stream and subjects (default DefaultPrefix): the same as EnsureStream's.
	Prefix string
	// SpoolDir holds the spool (required): <data dir>/spool. One process per directory.
	SpoolDir string
	// Spool bounds the spool (spool.Options defaults: 64 MiB, 262144 records, a quarter
	// kept for Fail commands).
	Spool spool.Options
	// AckTimeout bounds each publish, from send to PubAck (default DefaultAckTimeout).
	AckTimeout time.Duration
	// RetryMin and RetryMax bound the flusher's backoff between attempts while the
	// broker does not answer (defaults DefaultRetryMin, DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// FlushBatch is how many records the flusher publishes between two fsyncs of the
	// spool's head (default DefaultFlushBatch): at most that many are re-sent after a
	// crash.
	FlushBatch int
	Logger     *slog.Logger // default slog.Default()
}

// Publisher publishes commands to the commands stream and waits for the PubAck; when
// the broker does not take them it spools them and flushes the spool, in order, once
// the broker answers again (see the package comment).
type Publisher struct {
	js     jetstream.JetStream
	prefix string
	stream string
	sp     *spool.Spool
	cfg    Config
	log    *slog.Logger
	wake   chan struct{}
	closed atomic.Bool

	published, spooled, flushed, dropped, refused, rejected atomic.Uint64
	lastDropLog                                             atomic.Int64
	rejections                                              int // of the head record; the flusher's own

	mu          sync.Mutex
	lastErr     string
	lastErrAt   time.Time
	brokerDown  bool // the last attempt failed; cleared by the next success
	started     bool
	cancel      context.CancelFunc
	flusherDone chan struct{}
}

// NewPublisher opens the spool in cfg.SpoolDir (recovering what a previous process left
// there) and returns a publisher. Start begins flushing the spool; Close stops.
func NewPublisher(cfg Config) (*Publisher, error) {
	if cfg.JS == nil {
		return nil, errors.New("bus: Config.JS is required")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("bus: Config.SpoolDir is required")
	}
	o := Options{Prefix: cfg.Prefix}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	cfg.Prefix = o.Prefix
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.FlushBatch <= 0 {
		cfg.FlushBatch = DefaultFlushBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Spool.MaxRecordBytes <= 0 {
		cfg.Spool.MaxRecordBytes = command.MaxSize
	}
	sp, err := spool.Open(cfg.SpoolDir, cfg.Spool)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	p := &Publisher{js: cfg.JS, prefix: cfg.Prefix, stream: StreamName(cfg.Prefix), sp: sp, cfg: cfg,
		log: cfg.Logger.With("component", "bus"), wake: make(chan struct{}, 1)}
	if st := sp.Stats(); st.Depth > 0 || st.TruncatedBytes > 0 {
		p.log.Warn("spool holds commands from an earlier run", "depth", st.Depth, "oldest", st.Oldest,
			"truncated_bytes", st.TruncatedBytes)
	}
	return p, nil
}

// Publish sends c to the commands stream and returns once the broker acknowledged it
// (PubAck, the durability point), or once c is fsync'd in the spool when the broker did
// not answer within AckTimeout or failed. While the spool holds commands, c goes to the
// spool too, behind them. The request's cancellation does not cut the publish short
// (a command is never half-sent and forgotten); AckTimeout bounds it.
//
// Publish returns nil when c is acknowledged, spooled, or dropped under its type's
// Drop policy (PolicyFor); an error when c is invalid, ErrRejected, ErrSpoolFull (Fail
// policy: the caller fails the request), ErrClosed, or a spool I/O error.
func (p *Publisher) Publish(ctx context.Context, c command.Command) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	b, err := c.Encode()
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	if p.closed.Load() {
		return ErrClosed
	}
	if p.sp.Len() == 0 {
		err := p.send(ctx, c, b)
		if err == nil {
			p.published.Add(1)
			p.noteSuccess()
			return nil
		}
		if errors.Is(err, ErrRejected) {
			p.rejected.Add(1)
			return err
		}
		if p.noteFailure(err) {
			p.log.Warn("broker did not take a command; spooling until it does", "command", c, "err", err)
		}
	}
	return p.spoolOne(c, b)
}

// send publishes b as c and waits for the PubAck, at most AckTimeout.
func (p *Publisher) send(ctx context.Context, c command.Command, b []byte) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.AckTimeout)
	defer cancel()
	_, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: c.Subject(p.prefix), Data: b},
		jetstream.WithMsgID(c.ID), jetstream.WithExpectStream(p.stream))
	if err != nil && permanent(err) {
		return fmt.Errorf("%w: %s: %v", ErrRejected, c, err)
	}
	return err
}

// errCodeHeaderTooLarge is nats-server's JSStreamHeaderExceedsMaximumErr (no constant in
// nats.go v1.55.0).
const errCodeHeaderTooLarge jetstream.ErrorCode = 10097

// permanent: the broker refused this message as such (its size), not for its state.
// Everything else (no responders, timeouts, a disconnected or closed connection,
// JetStream unavailable, a full stream, a missing or mismatched stream) is transient:
// the command waits in the spool until the broker, or its operator, fixes it.
func permanent(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum || api.ErrorCode == errCodeHeaderTooLarge
	}
	return errors.Is(err, nats.ErrMaxPayload)
}

func (p *Publisher) spoolOne(c command.Command, b []byte) error {
	pol := PolicyFor(c.Type)
	err := p.sp.Append(b, pol.priority())
	switch {
	case err == nil:
		p.spooled.Add(1)
		p.wakeUp()
		return nil
	case errors.Is(err, spool.ErrFull) && pol == Drop:
		n := p.dropped.Add(1)
		now := time.Now().UnixNano()
		if last := p.lastDropLog.Load(); now-last >= int64(dropLogEvery) && p.lastDropLog.CompareAndSwap(last, now) {
			p.log.Warn("spool full: dropping best-effort commands", "command", c, "dropped_total", n)
		}
		return nil
	case errors.Is(err, spool.ErrFull):
		p.refused.Add(1)
		return fmt.Errorf("%w: %s: %v", ErrSpoolFull, c, err)
	case errors.Is(err, spool.ErrClosed):
		return ErrClosed
	}
	return fmt.Errorf("bus: spool %s: %w", c, err)
}

// noteFailure records err as the last broker failure and reports whether the broker
// was up until now (so that an outage is logged once, not per command).
func (p *Publisher) noteFailure(err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr, p.lastErrAt = err.Error(), time.Now()
	first := !p.brokerDown
	p.brokerDown = true
	return first
}

// noteSuccess clears the outage and reports whether there was one.
func (p *Publisher) noteSuccess() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.brokerDown
	p.brokerDown = false
	return was
}

// Stats are the publisher's counters and its spool's state, for metrics and /readyz.
type Stats struct {
	// Depth, Bytes and Oldest describe the spool: commands waiting for the broker.
	Depth  int       `json:"depth"`
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest,omitzero"`
	// OldestAge is how long the oldest spooled command has waited (0 when empty).
	OldestAge        time.Duration `json:"-"`
	OldestAgeSeconds float64       `json:"oldest_age_seconds"`
	// Counters since the process started.
	Published uint64 `json:"published"` // acknowledged on the first attempt
	Spooled   uint64 `json:"spooled"`   // appended to the spool
	Flushed   uint64 `json:"flushed"`   // taken from the spool after their PubAck
	Dropped   uint64 `json:"dropped"`   // Drop policy, spool full
	Refused   uint64 `json:"refused"`   // Fail policy, spool full: ErrSpoolFull
	Rejected  uint64 `json:"rejected"`  // refused by the broker (too large) or unreadable
	// TruncatedBytes were cut from the spool's torn or corrupt tails when it was opened.
	TruncatedBytes int64 `json:"truncated_bytes"`
	// BrokerDown: the last publish or flush attempt failed.
	BrokerDown  bool      `json:"broker_down"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Stats returns the counters and the spool's state now.
func (p *Publisher) Stats() Stats {
	sp := p.sp.Stats()
	st := Stats{
		Depth: sp.Depth, Bytes: sp.Bytes, Oldest: sp.Oldest, TruncatedBytes: sp.TruncatedBytes,
		Published: p.published.Load(), Spooled: p.spooled.Load(), Flushed: p.flushed.Load(),
		Dropped: p.dropped.Load(), Refused: p.refused.Load(), Rejected: p.rejected.Load(),
	}
	if !sp.Oldest.IsZero() {
		st.OldestAge = max(time.Since(sp.Oldest), 0)
		st.OldestAgeSeconds = st.OldestAge.Seconds()
	}
	p.mu.Lock()
	st.BrokerDown, st.LastError, st.LastErrorAt = p.brokerDown, p.lastErr, p.lastErrAt
	p.mu.Unlock()
	return st
}

// Close stops the flusher and closes the spool; spooled commands stay on disk for the
// next process. Publish returns ErrClosed afterwards. Close the publisher before the
// NATS connection.
func (p *Publisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.mu.Lock()
	cancel, done := p.cancel, p.flusherDone
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return p.sp.Close()
}

var _ CommandPublisher = (*Publisher)(nil)
