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

func (s *server) inRecovery(ctx context.Context) (bool, error) {
	const q = `SELECT pg_is_in_recovery()`
	var in bool
	if s.probeConn != nil {
		if err := s.probeConn.QueryRow(ctx, q).Scan(&in); err == nil {
			return in, nil
		}
		s.closeProbe()
	}
	conn, err := pgx.ConnectConfig(ctx, s.probeCfg)
	if err != nil {
		return false, err
	}
	if err := conn.QueryRow(ctx, q).Scan(&in); err != nil {
		_ = conn.Close(context.Background())
		return false, err
	}
	s.probeConn = conn
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
