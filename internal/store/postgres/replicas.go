package postgres

import (
	"context"
	"errors"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// Replicas is a set of streaming replicas without a primary: the login tier's view of
// the entity store. It has no write path and no connection to the primary at all
// (ARCHITECTURE.md §1): reads are spread over the healthy replicas, a failing one is
// skipped within the call, and with none healthy a read fails with store.ErrUnavailable.
type Replicas struct {
	router *router
	prober *prober
	reader *sqlstore.Reader
}

// OpenReplicas opens the replica pools and probes them once. It refuses a PrimaryURL or
// PrimaryFallback: a process that may only read replicas must not be handed the primary.
func OpenReplicas(ctx context.Context, opts Options) (*Replicas, error) {
	opts = opts.withDefaults()
	switch {
	case opts.PrimaryURL != "" || opts.PrimaryFallback:
		return nil, errors.New("postgres: open replicas: a replica-only reader is never given the primary")
	case len(opts.ReplicaURLs) == 0:
		return nil, errors.New("postgres: open replicas: no replica URLs")
	}
	r, err := openRouter(opts, nil)
	if err != nil {
		return nil, err
	}
	p := &prober{servers: r.replicas, router: r, interval: opts.ProbeInterval, timeout: opts.ProbeTimeout}
	p.start(ctx)
	return &Replicas{router: r, prober: p, reader: sqlstore.NewReader(Dialect{}, r, opts.Now)}, nil
}

// Reader is the read-only view over the replicas.
func (rs *Replicas) Reader() *sqlstore.Reader { return rs.reader }

// Health reports every replica's state as the prober last saw it.
func (rs *Replicas) Health(context.Context) []store.DBHealth { return rs.router.health() }

// Close stops the prober and closes the pools.
func (rs *Replicas) Close() error {
	rs.prober.close()
	rs.router.closePools()
	return nil
}
