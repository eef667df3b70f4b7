package edge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The series labels say target_region and target_cluster: the process's own region and
// cluster are constant labels of every series already (internal/metrics).
const ns = "nines"

type edgeMetrics struct {
	attempts        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	retries         *prometheus.CounterVec
	retryRefused    prometheus.Counter
	keyedRetries    prometheus.Counter
	affinity        *prometheus.CounterVec
	ejections       *prometheus.CounterVec
	poolEjections   *prometheus.CounterVec
	ejectionsCapped *prometheus.CounterVec
	unhealthyTotal  *prometheus.CounterVec
	panicRouting    prometheus.Counter
	notFound        prometheus.Counter
	edgeErrors      *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	changes         *prometheus.CounterVec
}

func newEdgeMetrics() *edgeMetrics {
	backendLabels := []string{"target_region", "target_cluster", "backend"}
	return &edgeMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "upstream_requests_total",
			Help: "Attempts sent to a backend, by outcome: ok, 5xx, connect_error, timeout, error, canceled (the client went away)."},
			append(backendLabels, "outcome")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: "edge", Name: "upstream_response_seconds",
			Help:    "Time from sending an attempt to a backend to its response headers.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, backendLabels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "retries_total",
			Help: "Attempts retried on another backend, by the cluster of the failed attempt and why it failed."},
			[]string{"target_region", "target_cluster", "reason"}),
		retryRefused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "retries_refused_total",
			Help: "Retries not made because the retry budget was exhausted."}),
		keyedRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "keyed_retries_total",
			Help: "Retries of non-idempotent login requests that had reached a backend (a timeout, a broken connection, a 502/503/504), sent again with their retry key."}),
		affinity: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "affinity_total",
			Help: "Login requests carrying an instance tag, by what their first attempt did: hit (sent to the tagged backend), unusable (the tagged backend could not take it: picked as usual), unknown (no backend has the tag)."},
			[]string{"outcome"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "ejections_total",
			Help: "Backends ejected by passive outlier detection, by rule (consecutive_failures, error_rate)."},
			append(backendLabels, "reason")),
		poolEjections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "cluster_ejections_total",
			Help: "Whole clusters (one service of a cluster) ejected by passive outlier detection."},
			[]string{"target_region", "target_cluster", "service", "reason"}),
		ejectionsCapped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "ejections_capped_total",
			Help: "Ejections not made because the configured share was ejected already."},
			[]string{"target_region", "target_cluster"}),
		unhealthyTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "backend_unhealthy_total",
			Help: "Backends taken out by the active health check."}, backendLabels),
		panicRouting: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "panic_routed_total",
			Help: "Attempts sent to a backend considered unhealthy because nothing healthy was left for the request."}),
		notFound: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "unrouted_total",
			Help: "Requests answered 404 by the edge: no tier serves the path."}),
		edgeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "errors_total",
			Help: "Requests the edge answered itself because no backend did (502, 503, 504, 413), by status."}, []string{"code"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "table_reloads_total",
			Help: "Routing table reloads, by result (ok, refused)."}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "edge", Name: "control_changes_total",
			Help: "Traffic-control changes, by action and result (ok, refused, forced, failed)."}, []string{"action", "result"}),
	}
}

func clusterLabel(t target) string {
	if t.c == nil {
		return "admin"
	}
	return t.c.name
}

func (m *edgeMetrics) attempt(t target, oc outcome) {
	m.attempts.WithLabelValues(t.b.region, clusterLabel(t), t.b.base, oc.String()).Inc()
}

func (m *edgeMetrics) latency(t target, d time.Duration) {
	m.duration.WithLabelValues(t.b.region, clusterLabel(t), t.b.base).Observe(d.Seconds())
}

func (m *edgeMetrics) retry(t target, oc outcome) {
	m.retries.WithLabelValues(t.b.region, clusterLabel(t), oc.String()).Inc()
}

func (m *edgeMetrics) ejection(b *backend, reason string) {
	m.ejections.WithLabelValues(b.region, clusterOrAdmin(b.cluster), b.base, reason).Inc()
}

func (m *edgeMetrics) poolEjection(p *pool, reason string) {
	m.poolEjections.WithLabelValues(p.region, p.cluster, p.service, reason).Inc()
}

func (m *edgeMetrics) ejectionCapped(p *pool) {
	m.ejectionsCapped.WithLabelValues(p.region, clusterOrAdmin(p.cluster)).Inc()
}

func (m *edgeMetrics) unhealthy(b *backend) {
	m.unhealthyTotal.WithLabelValues(b.region, clusterOrAdmin(b.cluster), b.base).Inc()
}

// forget drops the series of a backend removed from the table.
func (m *edgeMetrics) forget(b *backend) {
	l := prometheus.Labels{"target_region": b.region, "target_cluster": clusterOrAdmin(b.cluster), "backend": b.base}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.attempts, m.duration, m.ejections, m.unhealthyTotal} {
		v.DeletePartialMatch(l)
	}
}

func clusterOrAdmin(c string) string {
	if c == "" {
		return "admin"
	}
	return c
}

func (m *edgeMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.attempts, m.duration, m.retries, m.retryRefused, m.keyedRetries, m.affinity, m.ejections, m.poolEjections,
		m.ejectionsCapped, m.unhealthyTotal, m.panicRouting, m.notFound, m.edgeErrors, m.reloads, m.changes}
}

// stateCollector exports the edge's live state at every scrape.
type stateCollector struct{ e *Edge }

func d(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, "edge", name), help, labels, nil)
}

var (
	descBackendUp = d("backend_up", "1 when the backend may get traffic (healthy, not ejected, its zone not drained).",
		"target_region", "target_cluster", "service", "backend", "target_zone")
	descBackendEjected = d("backend_ejected", "1 while passive outlier detection has the backend out.",
		"target_region", "target_cluster", "service", "backend", "target_zone")
	descOutstanding = d("backend_outstanding_requests", "Requests sent to the backend and not answered in full.",
		"target_region", "target_cluster", "service", "backend", "target_zone")
	descWeight     = d("cluster_weight", "The cluster's weight in its region: the operator's, else the table's.", "target_region", "target_cluster")
	descClusterUp  = d("cluster_available", "1 when the cluster can take login traffic (not drained or ejected, a usable backend).", "target_region", "target_cluster")
	descDrained    = d("cluster_drained", "1 while an operator has the cluster drained.", "target_region", "target_cluster")
	descClusterRPS = d("cluster_requests_per_second", "Attempts per second this edge sent to the cluster over the outlier window.", "target_region", "target_cluster")
	descCapacity   = d("cluster_capacity_rps", "The cluster's declared capacity (routing table capacity_rps).", "target_region", "target_cluster")
	descRegionUp   = d("region_available", "1 when a login cluster of the region can take traffic.", "target_region")
	descFailover   = d("region_failover", "1 while the operator has sent the region's login traffic to another region.", "target_region", "to_region")
	descZone       = d("zone_drained", "1 while an operator has the zone drained.", "target_region", "target_zone")
)

// Describe implements prometheus.Collector.
func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{descBackendUp, descBackendEjected, descOutstanding, descWeight, descClusterUp,
		descDrained, descClusterRPS, descCapacity, descRegionUp, descFailover, descZone} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	rt, st, now := c.e.rt.Load(), c.e.state.load(), time.Now()
	g := func(desc *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, l...)
	}
	for _, b := range rt.sortedBackends() {
		l := []string{b.region, clusterOrAdmin(b.cluster), b.service, b.base, b.zone}
		g(descBackendUp, boolf(b.usable() && !st.zoneDrained(b.region, b.zone)), l...)
		g(descBackendEjected, boolf(b.isEjected()), l...)
		g(descOutstanding, float64(b.outstanding.Load()), l...)
	}
	regionUp := map[string]bool{}
	seen := map[string]bool{}
	for _, key := range sortedClusterKeys(rt.clusters) {
		cl := rt.clusters[key]
		up := clusterAvailable(cl, st, now)
		regionUp[cl.region] = regionUp[cl.region] || up
		seen[cl.region] = true
		rps, _ := cl.stats.win.rate(now)
		g(descWeight, float64(st.weight(cl)), cl.region, cl.name)
		g(descClusterUp, boolf(up), cl.region, cl.name)
		g(descDrained, boolf(st.clusterDrained(cl.region, cl.name)), cl.region, cl.name)
		g(descClusterRPS, rps, cl.region, cl.name)
		g(descCapacity, cl.capacity, cl.region, cl.name)
	}
	for r := range seen {
		g(descRegionUp, boolf(regionUp[r]), r)
	}
	for from, to := range st.o.Failovers {
		g(descFailover, 1, from, to)
	}
	for _, z := range st.o.DrainedZones {
		r, zone := splitKey(z)
		g(descZone, 1, r, zone)
	}
}

// clusterAvailable reports whether a cluster can take login traffic for its default
// service: not drained, not ejected as a whole, a usable backend outside drained zones.
func clusterAvailable(c *cluster, st *opState, now time.Time) bool {
	if st.clusterDrained(c.region, c.name) || c.def.poolOut(now) {
		return false
	}
	return choose(c.def, st, nil, levelHealthy, now) != nil
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
