package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// Options configures Open.
type Options struct {
	// PrimaryURL is the read-write server (a postgres:// URL or key=value string).
	PrimaryURL string
	// ReplicaURLs serve the Reader. Empty: the Reader reads the primary, which needs
	// PrimaryFallback.
	ReplicaURLs []string
	// PrimaryFallback lets the Reader read the primary when no replica is healthy, or
	// always when there are no ReplicaURLs. The login tier must leave it false: it must
	// never load the primary, so Open refuses no replicas without PrimaryFallback rather
	// than read the primary silently.
	PrimaryFallback bool
	// ProbeInterval is how often each server is checked; zero means 250ms.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one check; zero means 1s.
	ProbeTimeout time.Duration
	// Logger gets every change of a database's state; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for stored times and health reports; nil means time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultProbeInterval = 250 * time.Millisecond
	DefaultProbeTimeout  = time.Second
)

// Backend is an open PostgreSQL primary with its replicas.
type Backend struct {
	primary *server
	router  *router // nil without replicas
	prober  *prober
	st      *sqlstore.Store
}

// Open creates the pools and probes every server once (within ProbeTimeout, all at
// once) for its initial state; a server that is down does not fail Open, so a process
// starts even while the primary is down. It does not migrate: call Migrate (from one
// process, the migrate role).
func Open(ctx context.Context, opts Options) (*Backend, error) {
	opts = opts.withDefaults()
	switch {
	case opts.PrimaryURL == "":
		return nil, errors.New("postgres: open: no primary URL")
	case len(opts.ReplicaURLs) == 0 && !opts.PrimaryFallback:
		return nil, errors.New("postgres: open: no replica URLs, and PrimaryFallback is off: " +
			"the Reader would have no database it may read")
	}
	p, err := openServer(opts.PrimaryURL, "primary", opts)
	if err != nil {
		return nil, err
	}
	b := &Backend{primary: p}
	cfg := sqlstore.Config{Dialect: Dialect{}, Primary: p.db, Now: opts.Now}
	if len(opts.ReplicaURLs) > 0 {
		if b.router, err = openRouter(opts, p.db); err != nil {
			return nil, errors.Join(err, b.Close())
		}
		cfg.Replicas = b.router
	}
	b.prober = &prober{servers: []*server{p}, router: b.router, interval: opts.ProbeInterval, timeout: opts.ProbeTimeout}
	if b.router != nil {
		b.prober.servers = append(b.prober.servers, b.router.replicas...)
	}
	b.prober.start(ctx)
	b.st = sqlstore.New(cfg)
	return b, nil
}

func (o Options) withDefaults() Options {
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func openRouter(opts Options, primary *sql.DB) (*router, error) {
	r := &router{}
	if opts.PrimaryFallback {
		r.fallback = primary
	}
	r.up.Store(&[]*server{})
	for i, u := range opts.ReplicaURLs {
		s, err := openServer(u, "replica", opts)
		if err != nil {
			r.closePools()
			return nil, fmt.Errorf("postgres: replica %d: %w", i+1, err)
		}
		r.replicas = append(r.replicas, s)
	}
	return r, nil
}

// openServer parses url and creates its pool (lazily: no connection yet).
func openServer(url, role string, opts Options) (*server, error) {
	cfg, err := pgxpool.ParseConfig(url) // pgconn redacts the password in its errors
	if err != nil {
		return nil, fmt.Errorf("postgres: %s URL: %w", role, err)
	}
	if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol {
		return nil, fmt.Errorf("postgres: %s URL asks for the simple protocol, which nines refuses (CVE-2026-41889)", role)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s pool: %w", role, err)
	}
	name := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	h := newHealth(name, role, cfg.ConnConfig.Password, opts.Logger, opts.Now)
	return &server{health: h, pool: pool, db: stdlib.OpenDBFromPool(pool), standby: role == "replica",
		probeCfg: cfg.ConnConfig.Copy()}, nil
}

// Store returns the entity store: writes and reads on the primary, and through Reader,
// reads on the replicas.
func (b *Backend) Store() *sqlstore.Store { return b.st }

// Health reports the primary's and every replica's state as the prober last saw it. It
// never waits on a server, so /readyz answers at once even while the primary hangs.
func (b *Backend) Health(context.Context) []store.DBHealth {
	hs := []store.DBHealth{b.primary.report()}
	if b.router != nil {
		hs = append(hs, b.router.health()...)
	}
	return hs
}

// Close stops the prober and closes every pool.
func (b *Backend) Close() error {
	if b.prober != nil {
		b.prober.close()
	}
	if b.router != nil {
		b.router.closePools()
	}
	b.primary.close()
	return nil
}

func (s *server) close() {
	_ = s.db.Close()
	s.pool.Close()
}

func (r *router) closePools() {
	for _, rep := range r.replicas {
		rep.close()
	}
}
