package worker

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/store"
)

// TestCommandLatency: nines_worker_command_latency_seconds gets one observation per
// command applied, of (the worker's clock at commit − the command's issue time), by
// type; none for a duplicate delivery, none for an attempt that found the store down
// (the retry that applies it is the one observation), and a command stamped in the
// future (clock skew) counts as 0.
func TestCommandLatency(t *testing.T) {
	e := newEnv(t)
	fs := &faultyStore{Store: e.store}
	must := mustCmd(t)
	signedIn := must(command.NewSignedIn(e.tn.ID, e.u.ID, t0))
	held := must(command.NewSignedIn(e.tn.ID, e.u.ID, t0.Add(-time.Minute)))
	failed := must(command.NewSignInFailed(e.tn.ID, e.u.ID, "0123456789abcdef", "invalid_credentials", t0))
	skewed := must(command.NewSignInFailed(e.tn.ID, e.u.ID, "0123456789abcdef", "", t0.Add(time.Hour)))
	fs.setFail(func(id string, call int) error {
		if id == held.ID && call == 1 {
			return fmt.Errorf("primary down: %w", store.ErrUnavailable)
		}
		return nil
	})
	cfg := e.config(fs)
	const lag = 1500 * time.Millisecond
	cfg.Now = func() time.Time { return t0.Add(lag) }
	w := New(cfg)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.Collector())
	e.start(w)

	e.publish(signedIn, "first")
	e.publish(signedIn, "second") // the same command again: a duplicate
	e.publish(held, "")
	e.publish(failed, "")
	e.publish(skewed, "")
	e.waitFor("every delivery settled", func() bool { s := w.Stats(); return s.Applied+s.Duplicates == 5 })
	if s := w.Stats(); s.Applied != 4 || s.Duplicates != 1 || s.StoreWaits != 1 {
		t.Fatalf("stats %+v, want 4 applied, 1 duplicate, 1 wait for the store", s)
	}

	type hist struct {
		count uint64
		sum   float64
	}
	got := map[string]hist{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "nines_worker_command_latency_seconds" {
			t.Errorf("unexpected family %s", mf.GetName())
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "type" {
				t.Errorf("labels %v, want type only", m.GetLabel())
				continue
			}
			h := m.GetHistogram()
			if n := len(h.GetBucket()); n != len(LatencyBuckets) {
				t.Errorf("%d buckets, want %d", n, len(LatencyBuckets))
			}
			got[m.GetLabel()[0].GetValue()] = hist{count: h.GetSampleCount(), sum: h.GetSampleSum()}
		}
	}
	want := map[string]hist{
		command.TypeSignedIn:     {count: 2, sum: (lag + lag + time.Minute).Seconds()},
		command.TypeSignInFailed: {count: 2, sum: lag.Seconds() + 0},
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for typ, w := range want {
		if g := got[typ]; g.count != w.count || math.Abs(g.sum-w.sum) > 1e-9 {
			t.Errorf("%s: %d observations summing to %gs, want %d summing to %gs", typ, g.count, g.sum, w.count, w.sum)
		}
	}
}
