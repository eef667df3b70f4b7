package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// server is one PostgreSQL server, the primary or a streaming replica: its pool for
// queries and the prober's own connection, so that a probe never waits behind busy
// queries for a pooled connection.
type server struct {
	*health
	pool    *pgxpool.Pool
	db      *sql.DB
	standby bool // what pg_is_in_recovery() must answer: true for a replica

	probeCfg  *pgx.ConnConfig
	probeConn *pgx.Conn           // used by one probe at a time: probes of a server never overlap
	lag       atomic.Pointer[Lag] // a standby's replay lag at the last probe; nil: unknown
	lastReset atomic.Int64        // Unix nanoseconds of the last pool reset by a failing read
}

// router is the sqlstore.ReadRouter over the replicas: round robin over the healthy
// ones and fail-over within the call on a connection fault; the Backend's prober marks
// replicas down and up in the background.
type router struct {
	replicas []*server
	fallback *sql.DB // the primary when Options.PrimaryFallback, else nil

	up   atomic.Pointer[[]*server] // the healthy replicas, rebuilt on every change
	next atomic.Uint64
	mu   sync.Mutex // serialises rebuilds of up
}

// Read runs fn on the next healthy replica; when fn fails there with a connection
// fault, the replica is marked down and fn runs on the following one, each replica at
// most once (a session that died on an established connection is first tried again
// once on a fresh connection of the same replica: again). With none left it reads the
// fallback, or returns store.ErrUnavailable.
func (r *router) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	ups := *r.up.Load()
	var last error
	if n := uint64(len(ups)); n > 0 {
		start := r.next.Add(1)
		for i := range n {
			rep := ups[(start+i)%n]
			if !rep.healthy() {
				continue // marked down since the snapshot
			}
			err := fn(ctx, rep.db)
			v := classify(ctx, err)
			if v == failover && sessionLost(err) {
				// An established session died while the server may be fine: a proxy or
				// a load balancer on the way closed its connections (seen when a
				// network fault ended: every pooled connection failed once with
				// "unexpected EOF"). Try once more on a fresh connection before calling
				// the replica down — with one replica in the region, marking it down
				// fails every read until the next probe.
				v, err = r.again(ctx, rep, fn)
			}
			switch v {
			case final:
				return err
			case failover:
				if rep.record(err, time.Now()) {
					r.rebuild()
				}
			}
			last = err
		}
	}
	return r.withoutReplica(ctx, fn, last)
}

// sessionRetryTimeout bounds the second try of a read whose session died: a fresh
// connection that does not answer by then (a path that accepts and stays silent) calls
// the replica down, as the first failure would have, instead of holding the read until
// its caller's deadline.
const sessionRetryTimeout = time.Second

// resetEvery bounds how often a replica's pool is reset by failing reads: the readers
// that failed together on the same dead connections must not each throw away the fresh
// connections the others just opened.
const resetEvery = time.Second

// again runs fn once more on rep, on a fresh connection (rep's pooled ones are reset,
// at most once per resetEvery), within sessionRetryTimeout, and classifies the result;
// a try cut off by its own timeout is a failover.
func (r *router) again(ctx context.Context, rep *server, fn func(ctx context.Context, db *sql.DB) error) (verdict, error) {
	if now := time.Now().UnixNano(); rep.pool != nil && now-rep.lastReset.Load() >= int64(resetEvery) {
		rep.lastReset.Store(now)
		rep.pool.Reset()
	}
	rctx, cancel := context.WithTimeout(ctx, sessionRetryTimeout)
	defer cancel()
	err := fn(rctx, rep.db)
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		return failover, fmt.Errorf("postgres: a fresh connection did not answer within %v: %w", sessionRetryTimeout, err)
	}
	return classify(ctx, err), err
}

// sessionLost reports a failover error that ended an established session (not a
// refused or failed connect): the server may still accept a new one.
func sessionLost(err error) bool {
	var ce *pgconn.ConnectError
	return !errors.As(err, &ce)
}

func (r *router) withoutReplica(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error, last error) error {
	if r.fallback != nil {
		err := fn(ctx, r.fallback)
		if classify(ctx, err) != final {
			return fmt.Errorf("postgres: no replica, and the primary failed: %w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if last != nil {
		return fmt.Errorf("postgres: no replica could serve the read: %w (last error: %w)", store.ErrUnavailable, last)
	}
	return fmt.Errorf("postgres: no healthy replica: %w", store.ErrUnavailable)
}

// record records the outcome of a read or a probe on s that began at began, and
// reports a change of state. Going down also drops s's pooled connections: they died
// with the server, and would otherwise fail one query each once it is back.
func (s *server) record(err error, began time.Time) bool {
	if !s.set(err, began) {
		return false
	}
	if err != nil && s.pool != nil {
		s.pool.Reset()
	}
	return true
}

// rebuild publishes the current set of healthy replicas, in configuration order.
func (r *router) rebuild() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ups := make([]*server, 0, len(r.replicas))
	for _, rep := range r.replicas {
		if rep.healthy() {
			ups = append(ups, rep)
		}
	}
	r.up.Store(&ups)
}

// health reports every replica's state.
func (r *router) health() []store.DBHealth {
	hs := make([]store.DBHealth, len(r.replicas))
	for i, rep := range r.replicas {
		hs[i] = rep.report()
	}
	return hs
}

var _ sqlstore.ReadRouter = (*router)(nil)
