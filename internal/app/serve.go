package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ninesid/nines/internal/admin"
	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/clientip"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/readonly"
	"github.com/ninesid/nines/internal/readonly/replicas"
	"github.com/ninesid/nines/internal/replay"
)

// HTTP server limits. WriteTimeout bounds a whole response, so it must exceed the
// slowest legitimate request (a password hash queued for a slot is about 2s).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// serveSpec is what differs between the roles that serve HTTP.
type serveSpec struct {
	migrate         bool // run migrations before serving
	primaryFallback bool // reads may go to the primary when no replica is healthy
	admin           bool // mount the admin API
	nats            bool // start or connect to NATS and open the login tier's KV buckets
	// optionalNATS: without nats, connect to NINES_NATS_URL when it is set, for the shared
	// read-only switch and the change notifications only (no buckets, commands or worker).
	optionalNATS bool
}

// serve runs an HTTP-serving role: open and migrate the store, listen, ensure the
// bootstrap admin token, serve until ctx is cancelled, then shut down gracefully:
// not ready → ShutdownDelay → drain within ShutdownTimeout → close NATS → close the store.
func serve(ctx context.Context, o Options, spec serveSpec) (err error) {
	cfg, logger := o.Config, slog.Default()

	b, err := openBackend(ctx, cfg, backendSpec{primaryFallback: spec.primaryFallback, logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
	}()
	if spec.migrate {
		if err := b.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	kek, err := loadKEK(cfg, logger)
	if err != nil {
		return err
	}
	// Failed sign-ins are audited with a digest of their source keyed from the KEK, the
	// same in every process of the deployment.
	sourceKey, err := bus.SourceKeyFromKEK(kek)
	if err != nil {
		return err
	}
	// Every tenant needs signing keys before the login surface can sign for it; this also
	// proves at start-up that the KEK opens the stored keys.
	if err := admin.EnsureSigningKeys(ctx, b.Store(), kek); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}

	// The login tier's KV buckets (zero without NATS), for the login surface to take.
	// NATS closes after HTTP has drained and before the store: defers run in reverse.
	var buckets kv.Buckets
	var nrt *natsRuntime
	var pub *bus.Publisher
	var wrk *runningWorker
	if spec.nats {
		if nrt, err = openNATS(ctx, cfg, o.Role, logger); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, nrt.close(logger)) }()
		buckets = nrt.buckets
		// The login surface's writes go through the command stream even in one process,
		// applied by an in-process worker: the same path as the split roles. Deferred
		// in reverse: HTTP drains, the publisher closes, the worker stops, NATS closes.
		if pub, err = openCommands(ctx, cfg, nrt, logger); err != nil {
			return err
		}
		if wrk, err = startWorker(ctx, nrt, b.Store(), cfg.EventRetention, logger); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, wrk.stop()) }()
		defer pub.Close()
	} else if spec.optionalNATS && cfg.NATSURL != "" {
		if nrt, err = openNATS(ctx, cfg, o.Role, logger); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, nrt.close(logger)) }()
	}
	bucketsOpened(buckets)
	// Change notifications (internal/changes): the admin API tells the login tier about a
	// key rotation at once; without NATS the login tier's cache TTL alone bounds it.
	var chg changeWiring
	if spec.admin {
		if err := chg.openPublisher(nrt, logger); err != nil {
			return err
		}
	}

	// Read-only mode of the admin API (ARCHITECTURE §1, §6); ro stays nil without it.
	var ro *readonly.Mode
	var replicaReads func() admin.Store
	if spec.admin {
		var closeReplicas func()
		if ro, replicaReads, closeReplicas, err = openReadOnly(ctx, cfg, b, nrt, logger); err != nil {
			return err
		}
		defer closeReplicas()
		roCtx, stopRO := context.WithCancel(ctx)
		roDone := make(chan struct{})
		go func() { defer close(roDone); ro.Run(roCtx) }()
		defer func() { stopRO(); <-roDone }() // before NATS closes: defers run in reverse
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // Server.Shutdown closes it too; this covers the early returns
	addr := ln.Addr().String()
	if cfg.PublicURLDerived() {
		cfg.PublicURL = config.DerivePublicURL(addr) // port 0 becomes the bound port
	}
	adminURL := cfg.PublicURL + admin.Prefix

	st := b.Store()
	tokenFile := ""
	if cfg.Embedded() {
		tokenFile = cfg.BootstrapTokenFile()
	}
	created, err := bootstrap{st: st, token: cfg.BootstrapAdminToken, file: tokenFile, adminURL: adminURL, console: o.Console}.ensure(ctx)
	if err != nil {
		return err
	}
	if created {
		logger.Info("bootstrap admin token created", "configured", cfg.BootstrapAdminToken != "")
	}

	h := &health{role: o.Role, region: cfg.Region, cluster: cfg.Cluster, zone: cfg.Zone, databases: b.Health,
		// the login surface is mounted with NATS; with the KV fallback it works without
		nats: nrt.healthCheck(), loginNeedsNATS: spec.nats && fallbackOf(nrt) == nil}
	if ro != nil {
		h.mode = ro.State
	}
	mux := http.NewServeMux()
	h.mount(mux)
	// One hasher per process, so the bound on concurrent argon2id hashing holds for the
	// admin API and sign-ins together.
	hasher := password.New(password.Config{})
	var collectors []prometheus.Collector // of the login surface, when mounted
	if spec.admin {
		ac := admin.Config{
			Store:     st,
			Passwords: hasher,
			KEK:       kek,
			PublicURL: cfg.PublicURL,
			Logger:    logger,
			ReadOnly:  ro,
			Replica:   replicaReads,
			Changes:   chg.publisher(),
		}
		if wrk != nil {
			ac.DeadLetters = wrk.w.DLQ()
		}
		admin.New(ac).Mount(mux)
	}
	if spec.nats {
		provToken, err := provisioningToken(ctx, cfg, st, spec.admin, logger)
		if err != nil {
			return err
		}
		lp, rp, err := mountLogin(mux, loginDeps{
			reader:    st.Reader(),
			recorder:  bus.Recorder{Publisher: pub, SourceKey: sourceKey},
			buckets:   buckets,
			hasher:    hasher,
			kek:       kek,
			publicURL: cfg.PublicURL,
			clientIP:  clientip.Resolver{Trusted: cfg.TrustedProxyPrefixes()},
			logger:    logger,

			provisioningToken: provToken,
			events:            pub,
			instanceTag:       cfg.InstanceTag,
		})
		if err != nil {
			return fmt.Errorf("login surface: %w", err)
		}
		if err := chg.subscribe(ctx, nrt, lp, logger); err != nil {
			return err
		}
		defer chg.close(logger) // before NATS closes
		collectors = append(collectors, replay.Collector{Middleware: rp}, userinfoUncheckedCollector(lp))
	}
	md := metricsDeps{commands: pub, worker: wrk, databases: b.Health, lag: replicaLag(b),
		extra: append(chg.collectors(), collectors...)}
	fallbackOf(nrt).wire(h, &md)
	handler := mountMetrics(mux, o.Role, cfg, md)
	if pub != nil {
		h.commands = pub.Stats
	}
	return serveHTTP(ctx, o, cfg, h, handler, ln, logger, "admin_api", adminURL)
}

// openReadOnly builds the admin API's read-only mode: the explicit switch in the NATS
// KV control bucket when the process has NATS (shared by every admin process), else in
// memory; automatic while the PostgreSQL primary is unreachable (never on the embedded
// SQLite, which has no primary to lose); in read-only mode, admin reads on a healthy
// replica when there are replicas. closeReplicas closes their pools.
func openReadOnly(ctx context.Context, cfg config.Config, b backend, nrt *natsRuntime,
	logger *slog.Logger) (_ *readonly.Mode, reads func() admin.Store, closeReplicas func(), _ error) {
	rc := readonly.Config{Logger: logger}
	if nrt != nil {
		// A fresh cluster may drop or leave unanswered a bucket creation (nats_open.go):
		// retry, bounded, like the other buckets.
		octx, cancel := context.WithTimeout(ctx, natsOpenTimeout)
		err := retryNATS(octx, "read-only control bucket", logger, func(ctx context.Context) (err error) {
			rc.Control, err = readonly.OpenControl(ctx, nrt.js, "", nrt.replicas)
			return err
		})
		cancel()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read-only switch: %w", err)
		}
	}
	closeReplicas = func() {}
	if !cfg.Embedded() {
		rc.PrimaryHealthy = readonly.PrimaryHealthy(b.Health)
		if len(cfg.ReplicaURLs) > 0 {
			rs, err := replicas.Open(cfg.ReplicaURLs, b.Health)
			if err != nil {
				return nil, nil, nil, err
			}
			closeReplicas = func() { _ = rs.Close() }
			reads = func() admin.Store {
				if st := rs.Healthy(); st != nil {
					return st
				}
				return nil // not a nil *sqlstore.Store in a non-nil interface
			}
		}
	}
	return readonly.New(rc), reads, closeReplicas, nil
}

// serveHTTP serves mux on ln until ctx is cancelled, then shuts down gracefully (not
// ready → ShutdownDelay → drain within ShutdownTimeout). Readiness turns on after the
// start line is logged, so whoever sees /readyz 200 finds the line; attrs are added to
// that line.
func serveHTTP(ctx context.Context, o Options, cfg config.Config, h *health, mux http.Handler,
	ln net.Listener, logger *slog.Logger, attrs ...any) error {
	srv := newHTTPServer(ctx, logger, chain(logger, mux))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		return shutdown(o, h, srv, logger)
	})
	addr := ln.Addr().String()
	logger.Info("nines started", append([]any{"role", o.Role, "listen", addr}, append(attrs, "config", &cfg)...)...)
	h.set(phaseReady)
	if o.Ready != nil {
		o.Ready(addr, cfg.PublicURL)
	}
	return g.Wait()
}

// newHTTPServer returns a server with bounded timeouts and header size. Requests get a
// context that is not cancelled when ctx is, so that draining lets them finish.
func newHTTPServer(ctx context.Context, logger *slog.Logger, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// shutdown stops taking traffic: /readyz turns 503 at once, the server keeps serving for
// ShutdownDelay (load balancers notice and stop sending), then drains in-flight requests
// within ShutdownTimeout.
func shutdown(o Options, h *health, srv *http.Server, logger *slog.Logger) error {
	h.set(phaseShuttingDown)
	logger.Info("shutting down", "delay", o.Config.ShutdownDelay, "timeout", o.Config.ShutdownTimeout)
	if o.NotReady != nil {
		o.NotReady()
	}
	if d := o.Config.ShutdownDelay; d > 0 {
		time.Sleep(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain: %w", err)
	}
	logger.Info("http server drained")
	return nil
}
