package changes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Conn   *nats.Conn   // required
	Prefix string       // subject namespace; "" is DefaultPrefix
	Logger *slog.Logger // nil: slog.Default()
}

// Publisher sends changes as core NATS messages. It is safe for concurrent use.
type Publisher struct {
	nc     *nats.Conn
	prefix string
	log    *slog.Logger

	published, failed atomic.Uint64
}

// NewPublisher returns a Publisher on cfg.Conn.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Conn == nil {
		return nil, errors.New("changes: PublisherConfig.Conn is required")
	}
	p := &Publisher{nc: cfg.Conn, prefix: orDefault(cfg.Prefix), log: cfg.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// Publish sends c, best effort: it hands the message to the connection and does not wait
// for anyone (while the connection is reconnecting, the client buffers it). A failure is
// logged at warn and counted, and returned for the caller to ignore: the admin write that
// caused c has committed, and the login tier's cache TTLs bound the staleness a lost
// change leaves.
func (p *Publisher) Publish(ctx context.Context, c Change) error {
	err := p.publish(c)
	if err != nil {
		p.failed.Add(1)
		p.log.WarnContext(ctx, "change notification not published; the login tier picks the write up within its cache TTL",
			"tenant", c.Tenant.String(), "kind", string(c.Kind), "version", c.Version, "error", err.Error())
		return err
	}
	p.published.Add(1)
	return nil
}

func (p *Publisher) publish(c Change) error {
	body, err := encode(c)
	if err != nil {
		return err
	}
	if err := p.nc.Publish(Subject(p.prefix, c.Kind), body); err != nil {
		return fmt.Errorf("changes: publish: %w", err)
	}
	return nil
}

// PublisherStats are a Publisher's counters since it was made.
type PublisherStats struct {
	Published uint64 // handed to the connection
	Failed    uint64 // refused by the connection (closed, buffer full) or invalid
}

// Stats returns the counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Published: p.published.Load(), Failed: p.failed.Load()}
}
