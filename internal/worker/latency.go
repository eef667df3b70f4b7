package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/command"
)

// LatencyBuckets are the upper bounds, in seconds, of the command latency histogram:
// from a command applied within a millisecond of its issue to one that waited an hour
// in a login process's spool or in the stream through a primary outage.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// newLatency is the histogram behind Collector. The type label takes only the types
// command.Decode accepts, so its cardinality is bounded by the code, not by the input.
func newLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "nines", Subsystem: "worker", Name: "command_latency_seconds",
		Help: "Time from a command's issue (its at, stamped by the publishing process) to the commit of its effect " +
			"on the primary, observed once per command applied, never for a duplicate delivery. It includes the " +
			"time spent in a spool, in the stream and held through a store outage; clock skew between the " +
			"publishing host and the worker's host shifts it (a negative difference counts as 0).",
		Buckets: LatencyBuckets,
	}, []string{"type"})
}

// Collector is the worker's latency histogram, nines_worker_command_latency_seconds
// by command type, for the process's metrics registry. (The counters of Stats are
// exported separately, read at every scrape.)
func (w *Worker) Collector() prometheus.Collector { return w.latency }

// observeLatency records how long cmd took from its issue to now, just after its
// transaction committed. The issue time (Command.At) is the only time a command
// carries: the broker's own timestamp would be the time of the publish that reached
// it, which for a spooled command hides the time it waited in the spool.
func (w *Worker) observeLatency(cmd command.Command) {
	w.latency.WithLabelValues(cmd.Type).Observe(max(w.now().Sub(cmd.At), 0).Seconds())
}
