package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/kv"
)

// KVFallback exports the login tier's KV fallback (kv.FallbackStats), read at every
// scrape.
type KVFallback struct {
	Stats *kv.FallbackStats
}

var (
	kvfActive = desc("kv_fallback", "active", "1 while the last attempt to reach the NATS KV failed and the login tier serves its state from memory.")
	kvfLocal  = desc("kv_fallback", "local_entries", "Entries held only in this process's memory, waiting for NATS.")
	kvfTotal  = desc("kv_fallback", "operations_total", "KV fallback events since the process started: local_write, local_read, "+
		"primary_failure, promoted, delete_replayed, delete_dropped, mirror_skipped.", "event")
)

// Describe implements prometheus.Collector.
func (KVFallback) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{kvfActive, kvfLocal, kvfTotal} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c KVFallback) Collect(ch chan<- prometheus.Metric) {
	s := c.Stats
	ch <- prometheus.MustNewConstMetric(kvfActive, prometheus.GaugeValue, boolValue(s.DownSince.Load() != 0))
	ch <- prometheus.MustNewConstMetric(kvfLocal, prometheus.GaugeValue, float64(s.LocalEntries.Load()))
	for _, e := range []struct {
		name string
		v    int64
	}{
		{"local_write", s.LocalWrites.Load()}, {"local_read", s.LocalReads.Load()},
		{"primary_failure", s.PrimaryFailures.Load()}, {"promoted", s.Promoted.Load()},
		{"delete_replayed", s.TombstonesApplied.Load()}, {"delete_dropped", s.TombstonesDropped.Load()},
		{"mirror_skipped", s.MirrorsSkipped.Load()},
	} {
		ch <- prometheus.MustNewConstMetric(kvfTotal, prometheus.CounterValue, float64(e.v), e.name)
	}
}
