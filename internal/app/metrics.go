package app

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/metrics"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/postgres"
)

// metricsPattern is where every serving role exposes its Prometheus metrics, on its
// HTTP address.
const metricsPattern = "GET /metrics"

// metricsDeps is what a role exports beyond HTTP and the Go runtime; a nil field is a
// part the role does not run.
type metricsDeps struct {
	commands  *bus.Publisher                         // roles all, login: the spool and its counters
	worker    *runningWorker                         // roles all, worker: applied, duplicates, ...
	databases func(context.Context) []store.DBHealth // every role with a database
	lag       func() []postgres.Lag                  // PostgreSQL replicas
	extra     []prometheus.Collector                 // role-specific collectors
}

// mountMetrics builds the process's registry (constant labels role, region, cluster,
// zone), mounts it at GET /metrics, and returns mux instrumented with the HTTP
// metrics: pass the result to serveHTTP.
func mountMetrics(mux *http.ServeMux, role Role, cfg config.Config, d metricsDeps) http.Handler {
	m := metrics.New(metrics.Labels{Role: string(role), Region: cfg.Region, Cluster: cfg.Cluster, Zone: cfg.Zone})
	if d.commands != nil {
		m.Register(metrics.Commands{Stats: d.commands.Stats})
	}
	if d.worker != nil {
		m.Register(metrics.Worker{Stats: d.worker.w.Stats}, d.worker.w.Collector())
	}
	if d.databases != nil {
		dbs := metrics.Databases{Health: d.databases}
		if lag := d.lag; lag != nil {
			dbs.Lag = func() []metrics.ReplicaLag {
				var out []metrics.ReplicaLag
				for _, l := range lag() {
					out = append(out, metrics.ReplicaLag{Database: l.Database, Known: l.Known, Seconds: l.Seconds,
						ReplayBacklogBytes: l.ReplayBacklogBytes})
				}
				return out
			}
		}
		m.Register(dbs)
	}
	m.Register(d.extra...)
	mux.Handle(metricsPattern, m.Handler())
	return m.Instrument(mux)
}

// replicaLag is b's replica lag when b is PostgreSQL, else nil.
func replicaLag(b any) func() []postgres.Lag {
	if l, ok := b.(interface{ ReplicaLag() []postgres.Lag }); ok {
		return l.ReplicaLag
	}
	return nil
}
