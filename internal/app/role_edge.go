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
	"sync"

	"github.com/ninesid/nines/internal/clientip"
	"github.com/ninesid/nines/internal/edge"
	"github.com/ninesid/nines/internal/metrics"
)

// edgeStateFile is where the edge keeps the operator's drains, weights and failovers
// (under the data directory).
const edgeStateFile = "edge-state.json"

// runEdge runs the public entry point (ARCHITECTURE.md §5): the routing table from
// NINES_EDGE_ROUTES, the public proxy on NINES_HTTP_ADDR, and on NINES_EDGE_CONTROL_ADDR
// the traffic-control API (bearer NINES_EDGE_CONTROL_TOKEN) with /healthz, /readyz and
// /metrics. It opens no database and no NATS; its only state on disk is the operator's
// overrides in <data dir>/edge-state.json. Shutdown: not ready → ShutdownDelay → the
// public listener drains → the control listener closes → probes stop.
func runEdge(ctx context.Context, o Options) error {
	cfg, logger := o.Config, slog.Default()
	if !cfg.Edge || cfg.EdgeRoutes == "" || cfg.EdgeControlToken == "" || cfg.EdgeControlAddr == "" || cfg.Region == "" {
		return usageError{errors.New("the edge role needs NINES_EDGE_ROUTES, NINES_EDGE_CONTROL_TOKEN, NINES_REGION " +
			"and a configuration validated for it (serve --role=edge)")}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cln, err := net.Listen("tcp", cfg.EdgeControlAddr)
	if err != nil {
		return fmt.Errorf("listen (control): %w", err)
	}
	defer cln.Close()
	if cfg.PublicURLDerived() {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	e, err := edge.New(edge.Config{
		RoutesPath:     cfg.EdgeRoutes,
		Region:         cfg.Region,
		StatePath:      filepath.Join(cfg.DataDir, edgeStateFile),
		ControlToken:   cfg.EdgeControlToken.Reveal(),
		SelfControlURL: "http://" + cln.Addr().String(),
		ClientIP:       clientip.Resolver{Trusted: cfg.TrustedProxyPrefixes()},
		Logger:         logger,
	})
	if err != nil {
		return err
	}

	// Health probes and the routing-file watcher run until HTTP has drained.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { e.Run(runCtx) })
	defer func() { stopRun(); wg.Wait() }()

	h := &health{role: o.Role, region: cfg.Region, cluster: cfg.Cluster, zone: cfg.Zone}
	eh := &edgeHealth{health: h, edge: e}
	reg := metrics.New(metrics.Labels{Role: string(o.Role), Region: cfg.Region, Cluster: cfg.Cluster, Zone: cfg.Zone})
	reg.Register(e.Collectors()...)

	// The public mux names the tiers only for the HTTP metrics' route label; everything
	// but the probes goes to the edge, which routes (or answers 404) itself. Both forms of
	// each prefix are listed so that the mux never redirects "/t/acme" to "/t/acme/".
	pub := http.NewServeMux()
	pub.HandleFunc("GET /healthz", h.healthz)
	pub.HandleFunc("GET /readyz", eh.readyz)
	for _, p := range []string{"/admin", "/admin/", "/scim", "/scim/", "/t/{tenant}", "/t/{tenant}/", "/"} {
		pub.Handle(p, e)
	}
	handler := reg.Instrument(pub)

	// The control listener: the API (token), and the probes and metrics (no token; keep
	// the address off the public network).
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /healthz", h.healthz)
	ctl.HandleFunc("GET /readyz", eh.readyz)
	ctl.Handle(metricsPattern, reg.Handler())
	ctl.Handle(edge.ControlPrefix, e.ControlHandler())
	csrv := newHTTPServer(ctx, logger, chain(logger, ctl))
	cerr := make(chan error, 1)
	go func() {
		if err := csrv.Serve(cln); !errors.Is(err, http.ErrServerClosed) {
			cerr <- fmt.Errorf("serve (control): %w", err)
			return
		}
		cerr <- nil
	}()
	err = serveHTTP(ctx, o, cfg, h, handler, ln, logger,
		"control", cln.Addr().String(), "routes", cfg.EdgeRoutes, "edge_region", cfg.Region)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serr := csrv.Shutdown(sctx); serr != nil {
		_ = csrv.Close()
	}
	return errors.Join(err, <-cerr)
}

// edgeHealth is the edge's /readyz: ready once serving; "degraded" (still 200) while
// its own region has no login cluster to send to — it serves through the next region,
// so taking it out of the load balancer would not help.
type edgeHealth struct {
	*health
	edge *edge.Edge
}

type edgeReadiness struct {
	Status          string `json:"status"` // ready, degraded, starting, shutting_down
	Role            Role   `json:"role"`
	Region          string `json:"region"`
	Cluster         string `json:"cluster"`
	Zone            string `json:"zone"`
	OwnRegionServes bool   `json:"own_region_serves"` // a login cluster of this edge's region can take traffic
}

func (eh *edgeHealth) readyz(w http.ResponseWriter, _ *http.Request) {
	body := edgeReadiness{Role: eh.role, Region: eh.region, Cluster: eh.cluster, Zone: eh.zone}
	p := phase(eh.phase.Load())
	body.Status = p.String()
	code := http.StatusServiceUnavailable
	if p == phaseReady {
		code = http.StatusOK
		body.OwnRegionServes = eh.edge.Ready()
		if !body.OwnRegionServes {
			body.Status = "degraded"
		}
	}
	writeJSON(w, code, body)
}
