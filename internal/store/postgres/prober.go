package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// prober checks every server of a Backend (the primary and the replicas) in the
// background, so that Health and the read router know each one's state without a
// request ever waiting on a dead server.
type prober struct {
	servers  []*server // the primary first, then the replicas
	router   *router   // rebuilt when a replica changes; nil without replicas
	interval time.Duration
	timeout  time.Duration

	stop context.CancelFunc
	done chan struct{}
}

// start probes every server once, so that the Backend begins with their real state,
// then keeps probing every interval until close.
func (p *prober) start(ctx context.Context) {
	p.probeAll(ctx)
	loop, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go p.run(loop)
}

// close stops the prober and closes its connections.
func (p *prober) close() {
	if p.stop == nil {
		return
	}
	p.stop()
	<-p.done
	for _, s := range p.servers {
		s.closeProbe()
	}
}

func (p *prober) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.probeAll(ctx)
		}
	}
}

// probeAll probes the servers concurrently and publishes the replicas' changes.
func (p *prober) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	var changed atomic.Bool
	for _, s := range p.servers {
		wg.Go(func() {
			if p.probe(ctx, s) && s.standby {
				changed.Store(true)
			}
		})
	}
	wg.Wait()
	if changed.Load() && p.router != nil {
		p.router.rebuild()
	}
}

// probe checks one server within the probe timeout and reports whether its state
// changed.
func (p *prober) probe(ctx context.Context, s *server) bool {
	began := time.Now()
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	err := s.check(pctx)
	if ctx.Err() != nil {
		return false // closing: the outcome says nothing about the server
	}
	return s.record(err, began)
}

// Errors of a server that answers but has the wrong role. A replica that is not a
// standby (a promoted one, or a primary's URL configured as a replica) must not serve
// the login tier's reads, which would then load a primary; a primary in recovery cannot
// take writes.
var (
	errNotStandby = errors.New("not a standby (pg_is_in_recovery() = false)")
	errNotPrimary = errors.New("not a primary: in recovery (pg_is_in_recovery() = true)")
)

// check asks the server whether it is in recovery, on the prober's own connection, and
// compares the answer with its role. When that connection has broken (the server
// restarted since the last probe), it tries once more on a new one, so a server that is
// back is not reported down for one more interval.
func (s *server) check(ctx context.Context) error {
	inRecovery, err := s.inRecovery(ctx)
	if err != nil || !s.standby || !inRecovery {
		s.lag.Store(nil) // unknown: no answer, or not a standby whose replay could lag
	}
	switch {
	case err != nil:
		return err
	case s.standby && !inRecovery:
		return errNotStandby
	case !s.standby && inRecovery:
		return errNotPrimary
	}
	return nil
}

// probeQuery asks whether the server is in recovery and, on a standby, how far its
// replay is behind: the age of the newest transaction it replayed, and the WAL received
// but not replayed yet. Both are null on a primary, and the age is null on a standby
// that has replayed no transaction since it started. One round trip: the probe runs
// every 250ms on every server.
const probeQuery = `SELECT pg_is_in_recovery(),
	extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
	pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8`

func (s *server) inRecovery(ctx context.Context) (bool, error) {
	if s.probeConn != nil {
		if in, err := s.query(ctx, s.probeConn); err == nil {
			return in, nil
		}
		s.closeProbe()
	}
	conn, err := pgx.ConnectConfig(ctx, s.probeCfg)
	if err != nil {
		return false, err
	}
	in, err := s.query(ctx, conn)
	if err != nil {
		_ = conn.Close(context.Background())
		return false, err
	}
	s.probeConn = conn
	return in, nil
}

// query runs probeQuery on conn and records a standby's lag.
func (s *server) query(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var (
		in      bool
		age     *float64
		backlog *float64
	)
	if err := conn.QueryRow(ctx, probeQuery).Scan(&in, &age, &backlog); err != nil {
		return false, err
	}
	if in && age != nil {
		l := Lag{Database: s.name, Known: true, Seconds: max(*age, 0), At: time.Now()}
		if backlog != nil {
			l.ReplayBacklogBytes = max(*backlog, 0)
		}
		s.lag.Store(&l)
	} else {
		s.lag.Store(nil)
	}
	return in, nil
}

func (s *server) closeProbe() {
	if s.probeConn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.probeConn.Close(ctx)
		s.probeConn = nil
	}
}
