package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// start probes every replica once, so that the router begins with their real state,
// then keeps probing every interval until close.
func (r *router) start(ctx context.Context) {
	r.probeAll(ctx)
	loop, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go r.run(loop)
}

// close stops the prober and closes its connections.
func (r *router) close() {
	if r.stop == nil {
		return
	}
	r.stop()
	<-r.done
	for _, rep := range r.replicas {
		rep.closeProbe()
	}
}

func (r *router) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.probeAll(ctx)
		}
	}
}

// probeAll probes the replicas concurrently and publishes the changes.
func (r *router) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	var changed atomic.Bool
	for _, rep := range r.replicas {
		wg.Go(func() {
			if r.probe(ctx, rep) {
				changed.Store(true)
			}
		})
	}
	wg.Wait()
	if changed.Load() {
		r.rebuild()
	}
}

// probe checks one replica within the probe timeout and reports whether its state
// changed.
func (r *router) probe(ctx context.Context, rep *replica) bool {
	began := time.Now()
	pctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := rep.ping(pctx)
	if ctx.Err() != nil {
		return false // closing: the outcome says nothing about the replica
	}
	return r.update(rep, err, began)
}

// ping checks the replica on the prober's own connection. When that connection has
// broken (the server restarted since the last probe), it tries once more on a new one,
// so a replica that is back is not reported down for one more interval.
func (rep *replica) ping(ctx context.Context) error {
	if rep.probeConn != nil {
		if err := rep.probeConn.Ping(ctx); err == nil {
			return nil
		}
		rep.closeProbe()
	}
	conn, err := pgx.ConnectConfig(ctx, rep.probeCfg)
	if err != nil {
		return err
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close(context.Background())
		return err
	}
	rep.probeConn = conn
	return nil
}

func (rep *replica) closeProbe() {
	if rep.probeConn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = rep.probeConn.Close(ctx)
		rep.probeConn = nil
	}
}
