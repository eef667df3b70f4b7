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
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/metrics"
	"github.com/ninesid/nines/internal/natsd"
)

// runNATS runs one member of a NATS JetStream cluster inside nines (`serve --role=nats`),
// for a local topology without a separate NATS installation: three of them on one
// machine are the broker and KV store of the login, worker and admin processes, which
// reach them through NINES_NATS_URL. The member keeps its store under
// <data dir>/nats, takes clients on NINES_NATS_LISTEN and routes on
// NINES_NATS_CLUSTER_LISTEN, dials the members in NINES_NATS_ROUTES, and serves
// /healthz, /readyz and /metrics on NINES_HTTP_ADDR. It opens no database.
//
// In production, run NATS as its own cluster (research §7): a member restarted with
// every nines upgrade would put Raft elections in every rollout.
func runNATS(ctx context.Context, o Options) error {
	cfg, logger := o.Config, slog.Default()
	if !cfg.NATSNode || cfg.NATSName == "" || len(cfg.NATSRoutes) == 0 {
		return usageError{errors.New("the nats role needs NINES_NATS_NAME, NINES_NATS_ROUTES and a configuration " +
			"validated for it (serve --role=nats)")}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	srv, err := natsd.Start(ctx, natsd.Options{
		StoreDir:   filepath.Join(cfg.DataDir, natsStoreDirName),
		Listen:     cfg.NATSListen,
		ServerName: cfg.NATSName,
		Logger:     logger,
		Cluster:    natsd.Cluster{Name: cfg.NATSClusterName, Listen: cfg.NATSClusterListen, Routes: cfg.NATSRoutes},
	})
	if err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	// Stops after HTTP has drained: defers run in reverse.
	defer func() {
		// Lame duck: leaderships handed over before the member goes, so a rolling
		// restart puts no election in the clients' way.
		srv.LameDuckShutdown()
		logger.Info("nats server stopped", "name", cfg.NATSName)
	}()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	h := &health{role: o.Role, region: cfg.Region, cluster: cfg.Cluster, zone: cfg.Zone}
	nh := &natsNodeHealth{health: h, srv: srv}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", nh.readyz)
	handler := mountMetrics(mux, o.Role, cfg, metricsDeps{extra: []prometheus.Collector{
		metrics.NATSServer{State: func() metrics.NATSState {
			st := srv.State()
			return metrics.NATSState{JetStream: st.JetStream, MetaLeader: st.Leader != "", Peers: st.Peers, Routes: st.Routes}
		}},
	}})
	return serveHTTP(ctx, o, cfg, h, handler, ln, logger,
		"nats_name", cfg.NATSName, "nats_cluster", cfg.NATSClusterName,
		"nats_client_url", srv.ClientURL(), "nats_route_url", srv.ClusterURL(), "nats_routes", routesLabel(cfg.NATSRoutes))
}

// routesLabel lists the routes for the log, without user information.
func routesLabel(routes []string) string {
	us, err := natsd.RouteURLs(routes)
	if err != nil {
		return config.Redacted
	}
	out := make([]string, len(us))
	for i, u := range us {
		u.User = nil
		out[i] = u.String()
	}
	return strings.Join(out, ",")
}

// natsNodeHealth is the nats role's /readyz: ready once the process is serving, JetStream
// is up and the cluster has a meta leader — before that, no stream or bucket can be
// created or changed, and a bucket whose stream has no leader cannot be written.
type natsNodeHealth struct {
	*health // the phase; its database and NATS client checks are unused
	srv     *natsd.Server
}

// natsNodeReadiness is the nats role's /readyz body.
type natsNodeReadiness struct {
	Status    string             `json:"status"` // ready, starting, shutting_down, unavailable
	Role      Role               `json:"role"`
	Region    string             `json:"region"`
	Cluster   string             `json:"cluster"`
	Zone      string             `json:"zone"`
	Server    string             `json:"server"`     // this member's name
	ClientURL string             `json:"client_url"` // what NINES_NATS_URL lists
	RouteURL  string             `json:"route_url"`  // what the members' NINES_NATS_ROUTES list
	NATS      natsd.ClusterState `json:"nats"`
}

func (nh *natsNodeHealth) readyz(w http.ResponseWriter, _ *http.Request) {
	body := natsNodeReadiness{Role: nh.role, Region: nh.region, Cluster: nh.cluster, Zone: nh.zone,
		Server: nh.srv.Name(), ClientURL: nh.srv.ClientURL(), RouteURL: nh.srv.ClusterURL(), NATS: nh.srv.State()}
	p := phase(nh.phase.Load())
	body.Status = p.String()
	code := http.StatusServiceUnavailable
	if p == phaseReady {
		if body.NATS.JetStream && body.NATS.Leader != "" {
			code = http.StatusOK
		} else {
			body.Status = "unavailable"
		}
	}
	writeJSON(w, code, body)
}
