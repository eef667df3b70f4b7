package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/worker"
)

// runningWorker is a command worker running in the background of a serving process.
type runningWorker struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

// startWorker prepares a worker (its consumer and dead-letter stream, retried like the
// other NATS objects while a fresh cluster elects: a worker that cannot consume must not
// let its process report ready), then runs it in the background, applying the command
// stream to st until stop. Its context is not ctx's child: it must keep applying while
// HTTP drains, and stop only when told. The retention loop (retention.go) runs beside it
// with eventRetention.
func startWorker(ctx context.Context, nrt *natsRuntime, st *sqlstore.Store, eventRetention time.Duration, logger *slog.Logger) (*runningWorker, error) {
	w := worker.New(worker.Config{JS: nrt.js, Prefix: bus.DefaultPrefix, Store: st, Logger: logger})
	pctx, pcancel := context.WithTimeout(ctx, natsOpenTimeout)
	err := retryNATS(pctx, "worker consumer", logger, w.Prepare)
	pcancel()
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rw := &runningWorker{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(wctx) }()
	go runRetention(wctx, st, eventRetention, logger)
	return rw, nil
}

// stop ends the worker and waits for it: a command in flight is either committed and
// acknowledged, or redelivered later (the dedupe record makes that harmless).
func (rw *runningWorker) stop() error {
	rw.cancel()
	if err := <-rw.done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// runWorker applies the deployment's command stream to the primary (ARCHITECTURE.md §3),
// and serves /healthz and /readyz for its orchestrator. It needs the deployment's NATS:
// a worker on an embedded broker would have nothing to consume.
func runWorker(ctx context.Context, o Options) (err error) {
	cfg, logger := o.Config, slog.Default()
	if cfg.NATSURL == "" {
		return usageError{errors.New("the worker role consumes the deployment's command stream: set NINES_NATS_URL")}
	}
	b, err := openBackend(ctx, cfg, backendSpec{primaryFallback: true, logger: logger})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.Close()) }()
	nrt, err := openNATS(ctx, cfg, o.Role, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, nrt.close(logger)) }()
	if err := ensureCommandStream(ctx, nrt, logger); err != nil {
		return err
	}
	wrk, err := startWorker(ctx, nrt, b.Store(), cfg.EventRetention, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, wrk.stop()) }()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	h := &health{role: o.Role, region: cfg.Region, cluster: cfg.Cluster, zone: cfg.Zone, databases: b.Health,
		nats: nrt.healthCheck()}
	mux := http.NewServeMux()
	h.mount(mux)
	handler := mountMetrics(mux, o.Role, cfg, metricsDeps{worker: wrk, databases: b.Health, lag: replicaLag(b)})
	return serveHTTP(ctx, o, cfg, h, handler, ln, logger)
}
