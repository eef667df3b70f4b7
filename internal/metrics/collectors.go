package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/worker"
)

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
}

// Commands exports a command publisher's spool and counters (bus.Publisher.Stats),
// read at every scrape.
type Commands struct {
	Stats func() bus.Stats
}

var (
	spoolDepth  = desc("commands", "spool_depth", "Commands waiting in the on-disk spool for the broker.")
	spoolBytes  = desc("commands", "spool_bytes", "Bytes of the commands waiting in the spool.")
	spoolOldest = desc("commands", "spool_oldest_age_seconds", "How long the oldest spooled command has waited; 0 when the spool is empty.")
	brokerDown  = desc("commands", "broker_down", "1 when the last publish or flush attempt failed.")
	cmdTotal    = desc("commands", "total", "Commands by outcome since the process started: published (acknowledged at once), spooled, "+
		"flushed (from the spool, acknowledged), dropped (spool full, Drop policy), refused (spool full, Fail policy), "+
		"rejected (refused by the broker or unreadable).", "outcome")
)

// Describe implements prometheus.Collector.
func (Commands) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{spoolDepth, spoolBytes, spoolOldest, brokerDown, cmdTotal} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c Commands) Collect(ch chan<- prometheus.Metric) {
	st := c.Stats()
	ch <- prometheus.MustNewConstMetric(spoolDepth, prometheus.GaugeValue, float64(st.Depth))
	ch <- prometheus.MustNewConstMetric(spoolBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(spoolOldest, prometheus.GaugeValue, st.OldestAge.Seconds())
	ch <- prometheus.MustNewConstMetric(brokerDown, prometheus.GaugeValue, boolValue(st.BrokerDown))
	for _, o := range []struct {
		name string
		v    uint64
	}{
		{"published", st.Published}, {"spooled", st.Spooled}, {"flushed", st.Flushed},
		{"dropped", st.Dropped}, {"refused", st.Refused}, {"rejected", st.Rejected},
	} {
		ch <- prometheus.MustNewConstMetric(cmdTotal, prometheus.CounterValue, float64(o.v), o.name)
	}
}

// Worker exports a command worker's counters (worker.Worker.Stats).
type Worker struct {
	Stats func() worker.Stats
}

var workerTotal = desc("worker", "commands_total", "Command deliveries by outcome since the process started: applied (committed), "+
	"duplicate (already applied), retried (failed, redelivered later), dead_lettered.", "outcome")

// Describe implements prometheus.Collector.
func (Worker) Describe(ch chan<- *prometheus.Desc) { ch <- workerTotal }

// Collect implements prometheus.Collector.
func (w Worker) Collect(ch chan<- prometheus.Metric) {
	st := w.Stats()
	for _, o := range []struct {
		name string
		v    uint64
	}{
		{"applied", st.Applied}, {"duplicate", st.Duplicates}, {"retried", st.Retried}, {"dead_lettered", st.DeadLettered},
		{"store_wait", st.StoreWaits},
	} {
		ch <- prometheus.MustNewConstMetric(workerTotal, prometheus.CounterValue, float64(o.v), o.name)
	}
}

// ReplicaLag is one replica's replication delay as its prober last measured it.
type ReplicaLag struct {
	Database string // host:port
	// Known is false until a probe measured it, and while the replica has replayed no
	// transaction since it started (pg_last_xact_replay_timestamp() is null).
	Known bool
	// Seconds is now() - pg_last_xact_replay_timestamp() on the replica: how old the
	// newest replayed transaction is. It also grows while the primary commits nothing.
	Seconds float64
	// ReplayBacklogBytes is WAL received but not yet replayed.
	ReplayBacklogBytes float64
}

// Databases exports the databases' health (the prober's view, never a query at scrape
// time) and the replicas' lag.
type Databases struct {
	Health func(context.Context) []store.DBHealth
	Lag    func() []ReplicaLag // nil: no replicas (SQLite, or a primary alone)
}

var (
	dbUp       = desc("database", "up", "1 while the database answers its probe in the role it is configured for.", "database", "db_role")
	dbSince    = desc("database", "state_since_seconds", "Unix time the database's up/down state last changed.", "database", "db_role")
	lagSeconds = desc("database", "replica_lag_seconds", "now() - pg_last_xact_replay_timestamp() on the replica: the age of "+
		"the newest transaction it replayed. While the primary commits nothing it grows although the replica is "+
		"current; read it with nines_database_replica_replay_backlog_bytes.", "database")
	lagBytes = desc("database", "replica_replay_backlog_bytes", "WAL the replica received and has not replayed yet.", "database")
)

// Describe implements prometheus.Collector.
func (Databases) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dbUp, dbSince, lagSeconds, lagBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (d Databases) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, h := range d.Health(ctx) {
		ch <- prometheus.MustNewConstMetric(dbUp, prometheus.GaugeValue, boolValue(h.Healthy), h.Name, h.Role)
		ch <- prometheus.MustNewConstMetric(dbSince, prometheus.GaugeValue, float64(h.Since.UnixNano())/1e9, h.Name, h.Role)
	}
	if d.Lag == nil {
		return
	}
	for _, l := range d.Lag() {
		if !l.Known {
			continue // absent rather than a made-up 0
		}
		ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, l.Seconds, l.Database)
		ch <- prometheus.MustNewConstMetric(lagBytes, prometheus.GaugeValue, l.ReplayBacklogBytes, l.Database)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	_ prometheus.Collector = Commands{}
	_ prometheus.Collector = Worker{}
	_ prometheus.Collector = Databases{}
)

// NATSServer exports an embedded NATS cluster member's view of its cluster.
type NATSServer struct {
	State func() NATSState
}

// NATSState is what NATSServer exports.
type NATSState struct {
	JetStream  bool // JetStream is enabled
	MetaLeader bool // the cluster has a meta leader
	Peers      int  // cluster size known to this member
	Routes     int  // route connections to peers
}

var (
	natsJS     = desc("nats", "jetstream_up", "1 while JetStream is enabled on this member.")
	natsLeader = desc("nats", "meta_leader_known", "1 while this member knows a JetStream meta leader (the cluster can place and change streams).")
	natsPeers  = desc("nats", "cluster_peers", "JetStream cluster size known to this member.")
	natsRoutes = desc("nats", "routes", "Route connections open from this member to its peers.")
)

// Describe implements prometheus.Collector.
func (NATSServer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{natsJS, natsLeader, natsPeers, natsRoutes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (n NATSServer) Collect(ch chan<- prometheus.Metric) {
	st := n.State()
	ch <- prometheus.MustNewConstMetric(natsJS, prometheus.GaugeValue, boolValue(st.JetStream))
	ch <- prometheus.MustNewConstMetric(natsLeader, prometheus.GaugeValue, boolValue(st.MetaLeader))
	ch <- prometheus.MustNewConstMetric(natsPeers, prometheus.GaugeValue, float64(st.Peers))
	ch <- prometheus.MustNewConstMetric(natsRoutes, prometheus.GaugeValue, float64(st.Routes))
}

var _ prometheus.Collector = NATSServer{}
