package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/metrics"
)

// The login tier's KV fallback (kv.Fallback): while the deployment's NATS cannot be
// reached — every node down, or a leader election after one died — a login process
// keeps signing people in on state held in its own memory, and brings the KV up to date
// when NATS answers again (ARCHITECTURE.md §6, "broker down: nothing"). Its commands go
// to the spool meanwhile (internal/bus).
const (
	// kvMirrorTTL bounds how long a copy of an entry written to NATS is kept: a flow
	// started before an outage finishes during it; an SSO session older than this
	// asks for the password again during an outage.
	kvMirrorTTL = time.Hour
	// kvSyncEvery is how often tombstones are replayed and local entries promoted.
	kvSyncEvery = time.Second
	// kvSyncBatch bounds the work of one sync per bucket.
	kvSyncBatch = 1000
)

// kvFallbackBytes bounds each bucket's memory (keys and values; ~100 MiB in all at
// worst). Past it, mirrors are skipped and local writes fail as a full bucket would.
var kvFallbackBytes = map[string]int64{
	kv.AuthRequestsSuffix: 16 << 20,
	kv.CodesSuffix:        8 << 20,
	kv.SessionsSuffix:     32 << 20,
	kv.DeviceCodesSuffix:  4 << 20,
	kv.ThrottleSuffix:     16 << 20,
	kv.RefreshSuffix:      16 << 20,
	// Recorded answers live two minutes; past this, requests run without their record.
	kv.ReplaySuffix: 8 << 20,
}

// kvFallback is the set of fallback buckets of one process.
type kvFallback struct {
	stats   *kv.FallbackStats
	buckets []*kv.Fallback
}

// withFallback wraps every bucket of b; up reports the NATS connection's state.
func withFallback(b kv.Buckets, up func() bool) (kv.Buckets, *kvFallback) {
	f := &kvFallback{stats: new(kv.FallbackStats)}
	wrap := func(p kv.Bucket, suffix string, ttl time.Duration, miss error) kv.Bucket {
		maxValue := kv.DefaultMaxValueSize
		if suffix == kv.ReplaySuffix {
			maxValue = kv.ReplayMaxValueSize
		}
		fb := kv.NewFallback(p, kv.FallbackConfig{
			TTL: ttl, MirrorTTL: min(ttl, kvMirrorTTL), MaxBytes: kvFallbackBytes[suffix],
			MaxValueSize: maxValue, MissWhileDown: miss, Up: up, Stats: f.stats,
		})
		f.buckets = append(f.buckets, fb)
		return fb
	}
	return kv.Buckets{
		AuthRequests: wrap(b.AuthRequests, kv.AuthRequestsSuffix, kv.AuthRequestTTL, nil),
		Codes:        wrap(b.Codes, kv.CodesSuffix, kv.CodeTTL, nil),
		Sessions:     wrap(b.Sessions, kv.SessionsSuffix, kv.SessionTTL, nil),
		DeviceCodes:  wrap(b.DeviceCodes, kv.DeviceCodesSuffix, kv.DeviceCodeTTL, nil),
		// Throttle counters start afresh in memory when NATS cannot say: a window local
		// to this process during the outage rather than no sign-in at all.
		Throttle: wrap(b.Throttle, kv.ThrottleSuffix, kv.ThrottleTTL, kv.ErrNotFound),
		Refresh:  wrap(b.Refresh, kv.RefreshSuffix, kv.RefreshTTL, nil),
		// A recorded answer unknown while NATS is down is ErrUnavailable: a repeat waits
		// for it rather than running the request again.
		Replay: wrap(b.Replay, kv.ReplaySuffix, kv.ReplayTTL, nil),
	}, f
}

// run syncs the buckets every kvSyncEvery until ctx ends, logging when an outage's
// local state has been handed back to NATS.
func (f *kvFallback) run(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(kvSyncEvery)
	defer t.Stop()
	waiting := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pending := 0
		var firstErr error
		for _, b := range f.buckets {
			n, err := b.Sync(ctx, kvSyncBatch)
			pending += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		switch {
		case pending > 0 && waiting == 0:
			logger.Warn("kv fallback: holding state in memory until nats answers", "pending", pending)
		case pending == 0 && waiting > 0:
			logger.Info("kv fallback: state handed back to nats",
				"promoted", f.stats.Promoted.Load(), "deletes_replayed", f.stats.TombstonesApplied.Load())
		}
		if firstErr != nil && ctx.Err() == nil {
			logger.Debug("kv fallback: sync incomplete", "error", firstErr)
		}
		waiting = pending
	}
}

// kvFallbackHealth is the kv_fallback entry of /readyz.
type kvFallbackHealth struct {
	// Active: the last attempt to reach NATS's KV failed (since DownSince).
	Active    bool       `json:"active"`
	DownSince *time.Time `json:"down_since,omitempty"`
	// LocalEntries are held only in this process's memory, waiting to be promoted.
	LocalEntries int64 `json:"local_entries"`
	LocalWrites  int64 `json:"local_writes_total"`
	LocalReads   int64 `json:"local_reads_total"`
}

func (f *kvFallback) health() *kvFallbackHealth {
	if f == nil {
		return nil
	}
	h := &kvFallbackHealth{LocalEntries: f.stats.LocalEntries.Load(), LocalWrites: f.stats.LocalWrites.Load(),
		LocalReads: f.stats.LocalReads.Load()}
	if d := f.stats.DownSince.Load(); d != 0 {
		since := time.Unix(0, d).UTC()
		h.Active, h.DownSince = true, &since
	}
	return h
}

// degraded: the process is serving from memory, or holds state NATS has not got yet.
func (h *kvFallbackHealth) degraded() bool { return h != nil && (h.Active || h.LocalEntries > 0) }

// fallbackOf is rt's KV fallback; nil when rt is nil or has none.
func fallbackOf(rt *natsRuntime) *kvFallback {
	if rt == nil {
		return nil
	}
	return rt.fallback
}

// wire hands f's state to /readyz and /metrics; nothing when f is nil.
func (f *kvFallback) wire(h *health, d *metricsDeps) {
	if f == nil {
		return
	}
	h.fallback = f.health
	d.extra = append(d.extra, metrics.KVFallback{Stats: f.stats})
}
