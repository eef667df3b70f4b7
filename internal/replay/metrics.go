package replay

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is what became of a request that carried a retry key.
type Outcome int

// The outcomes, as counted by Stats and exported as nines_replay_requests_total.
const (
	// Recorded: the request ran and its answer was recorded for the repeats.
	Recorded Outcome = iota
	// Replayed: the request was answered from the record of an earlier attempt.
	Replayed
	// WaitedOut: an earlier attempt was still running after the wait bound (or the
	// caller left while waiting): 503 with Retry-After.
	WaitedOut
	// Unprotected: the bucket could not take the pending marker; the request ran
	// without a record.
	Unprotected
	// NotRecorded: the request ran but its answer was not recorded (a status of 400 or
	// more, a panic, an answer too large, a failed write): a repeat runs it again.
	NotRecorded
	// Rejected: a malformed key, a body over the bound, or a record of another request
	// (4xx); the request did not run.
	Rejected
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"recorded", "replayed", "waited_out", "unprotected", "not_recorded", "rejected"}

// String is the outcome's label value.
func (o Outcome) String() string {
	if o < 0 || o >= numOutcomes {
		return "unknown"
	}
	return outcomeNames[o]
}

// counters counts outcomes.
type counters [numOutcomes]atomic.Uint64

func (c *counters) add(o Outcome) { c[o].Add(1) }

// Stats are the outcomes counted since the Middleware was made.
type Stats map[Outcome]uint64

// Stats returns the counts of every outcome.
func (m *Middleware) Stats() Stats {
	s := make(Stats, numOutcomes)
	for o := range numOutcomes {
		s[o] = m.counts[o].Load()
	}
	return s
}

var requestsDesc = prometheus.NewDesc("nines_replay_requests_total",
	"Login-tier requests with a retry key from the edge since the process started, by outcome: recorded (ran, answer "+
		"sealed in the replay bucket), replayed (answered from an earlier attempt's record), waited_out (the earlier "+
		"attempt still running: 503), unprotected (the replay bucket could not take the request: ran without a record), "+
		"not_recorded (ran; answer 5xx, too large or a panic: a repeat runs again), rejected (malformed key, body too "+
		"large, or another request's record).", []string{"outcome"}, nil)

// Collector exports m's counters, read at every scrape; the registry adds the process's
// constant labels (internal/metrics).
type Collector struct {
	Middleware *Middleware
}

// Describe implements prometheus.Collector.
func (Collector) Describe(ch chan<- *prometheus.Desc) { ch <- requestsDesc }

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	for o := range numOutcomes {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue,
			float64(c.Middleware.counts[o].Load()), o.String())
	}
}
