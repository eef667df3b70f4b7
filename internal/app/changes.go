package app

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/admin"
	"github.com/ninesid/nines/internal/changes"
	"github.com/ninesid/nines/internal/oidc"
)

// changeWiring carries the change notifications of a process (internal/changes): the
// admin API publishes, the login surface subscribes. Either side is nil when the process
// does not run it or has no NATS; then the login tier's cache TTL alone bounds staleness.
type changeWiring struct {
	pub *changes.Publisher
	sub *changes.Subscriber
}

// openChangePublisher makes the admin API's publisher on nrt's connection; nil without
// NATS.
func (w *changeWiring) openPublisher(nrt *natsRuntime, logger *slog.Logger) error {
	if nrt == nil {
		return nil
	}
	var err error
	w.pub, err = changes.NewPublisher(changes.PublisherConfig{Conn: nrt.nc, Logger: logger})
	return err
}

// publisher is what admin.Config.Changes takes: nil, not a nil *changes.Publisher in a
// non-nil interface, when there is none.
func (w *changeWiring) publisher() admin.ChangePublisher {
	if w.pub == nil {
		return nil
	}
	return w.pub
}

// subscribe hands the login surface the changes it acts on: a key rotation makes p read
// the tenant's keys again at once. ctx (the process's) ends the reads' retries. Close
// the subscription (close) before NATS closes.
func (w *changeWiring) subscribe(ctx context.Context, nrt *natsRuntime, p *oidc.Provider, logger *slog.Logger) error {
	var err error
	w.sub, err = changes.Subscribe(changes.SubscriberConfig{Conn: nrt.nc, Logger: logger,
		Handlers: map[changes.Kind]changes.Handler{
			changes.Keys: func(c changes.Change) { p.KeysChanged(ctx, c.Tenant, c.Version) },
		}})
	return err
}

// close ends the subscription, if any.
func (w *changeWiring) close(logger *slog.Logger) {
	if err := w.sub.Close(); err != nil {
		logger.Warn("change notifications: unsubscribe", "error", err.Error())
	}
}

// collectors exports the counters of what runs.
func (w *changeWiring) collectors() []prometheus.Collector {
	if w.pub == nil && w.sub == nil {
		return nil
	}
	return []prometheus.Collector{changes.Collector{Publisher: w.pub, Subscriber: w.sub}}
}
