package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/clientip"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/replay"
	"github.com/ninesid/nines/internal/store/postgres"
)

// spoolDirName is where a process keeps the commands it could not publish (under the
// data directory).
const spoolDirName = "spool"

// runLogin serves end-user sign-in only (ARCHITECTURE.md §1): entity reads from the
// streaming replicas and nothing else — it is never given the primary —, short-lived
// state in NATS KV, and its writes as commands on the broker, spooled to disk while the
// broker is away. It runs no migrations and creates no tokens or keys.
func runLogin(ctx context.Context, o Options) (err error) {
	cfg, logger := o.Config, slog.Default()
	if !cfg.ReplicaOnly || cfg.DatabaseURL != "" || len(cfg.ReplicaURLs) == 0 || cfg.NATSURL == "" {
		return usageError{errors.New("the login role reads replicas only: it needs NINES_REPLICA_URLS, " +
			"no NINES_DATABASE_URL, the deployment's NINES_NATS_URL, and a configuration validated for it " +
			"(serve --role=login)")}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	kek, err := loadKEK(cfg, logger)
	if err != nil {
		return err
	}
	sourceKey, err := bus.SourceKeyFromKEK(kek)
	if err != nil {
		return err
	}
	rs, err := postgres.OpenReplicas(ctx, postgres.Options{ReplicaURLs: cfg.ReplicaURLs, Logger: logger})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rs.Close()) }()

	nrt, err := openNATS(ctx, cfg, o.Role, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, nrt.close(logger)) }()
	pub, err := openCommands(ctx, cfg, nrt, logger)
	if err != nil {
		return err
	}
	defer pub.Close() // after HTTP has drained, before NATS closes: defers run in reverse

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	if cfg.PublicURLDerived() {
		cfg.PublicURL = config.DerivePublicURL(ln.Addr().String())
	}

	h := &health{role: o.Role, region: cfg.Region, cluster: cfg.Cluster, zone: cfg.Zone, databases: rs.Health,
		nats: nrt.healthCheck(), loginNeedsNATS: nrt.fallback == nil}
	mux := http.NewServeMux()
	h.mount(mux)
	lp, rp, err := mountLogin(mux, loginDeps{
		reader:    rs.Reader(),
		recorder:  bus.Recorder{Publisher: pub, SourceKey: sourceKey},
		buckets:   nrt.buckets,
		hasher:    password.New(password.Config{}),
		kek:       kek,
		publicURL: cfg.PublicURL,
		clientIP:  clientip.Resolver{Trusted: cfg.TrustedProxyPrefixes()},
		logger:    logger,

		// Just-in-time provisioning goes to the admin API through NINES_PUBLIC_URL;
		// without a token, imports fail (logged) and everything else works.
		provisioningToken: cfg.ProvisioningToken.Reveal(),
		events:            pub,
		instanceTag:       cfg.InstanceTag,
	})
	if err != nil {
		return fmt.Errorf("login surface: %w", err)
	}
	// A key rotation announced by the admin tier is read from the replicas at once.
	var chg changeWiring
	if err := chg.subscribe(ctx, nrt, lp, logger); err != nil {
		return err
	}
	defer chg.close(logger) // before NATS closes
	h.commands = pub.Stats
	md := metricsDeps{commands: pub, databases: rs.Health, lag: rs.ReplicaLag,
		extra: append(chg.collectors(), replay.Collector{Middleware: rp}, userinfoUncheckedCollector(lp))}
	nrt.fallback.wire(h, &md)
	handler := mountMetrics(mux, o.Role, cfg, md)
	return serveHTTP(ctx, o, cfg, h, handler, ln, logger, "issuers", cfg.PublicURL+"/t/{tenant}")
}

// openCommands ensures the command stream and starts a publisher whose spool lives in
// the data directory. Close it after HTTP has drained and before NATS closes.
func openCommands(ctx context.Context, cfg config.Config, nrt *natsRuntime, logger *slog.Logger) (*bus.Publisher, error) {
	if err := ensureCommandStream(ctx, nrt, logger); err != nil {
		return nil, err
	}
	pub, err := bus.NewPublisher(bus.Config{JS: nrt.js, SpoolDir: filepath.Join(cfg.DataDir, spoolDirName), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("command publisher: %w", err)
	}
	pub.Start(ctx)
	return pub, nil
}
