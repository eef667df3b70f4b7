package edge

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"
)

// runProber probes b until ctx is done: at once, then every health interval while it is
// healthy, and with a doubling backoff (up to max_interval) while it is not. The
// settings are read from the current table at every round, so a reload applies to the
// probers already running.
func (e *Edge) runProber(ctx context.Context, b *backend) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		h := e.rt.Load().tbl.Health
		ok, detail := e.probe(ctx, b, h.Path, h.Timeout.D())
		if ctx.Err() != nil {
			return
		}
		e.probed(b, ok, detail, time.Now())
		wait = h.Interval.D()
		b.mu.Lock()
		if fails := b.probeFail; fails > 0 && !b.healthy.Load() {
			wait = time.Duration(float64(wait) * math.Pow(2, float64(min(fails-h.UnhealthyAfter+1, 20))))
			wait = min(wait, h.MaxInterval.D())
		}
		b.mu.Unlock()
		if u := b.ejectedUntil.Load(); u != 0 {
			// An ejected backend is probed again when its ejection ends (or sooner).
			if d := time.Until(time.Unix(0, u)); d > 0 && d < wait {
				wait = d
			}
		}
	}
}

// probe sends one GET of the health path; 2xx passes. detail says why it failed.
func (e *Edge) probe(ctx context.Context, b *backend, path string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		return false, "bad probe URL"
	}
	req.Header.Set("User-Agent", "nines-edge-probe")
	resp, err := e.probeClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, "probe timed out"
		}
		if isDial(err) {
			return false, "connect failed"
		}
		return false, "probe failed"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return false, fmt.Sprintf("probe answered %d", resp.StatusCode)
	}
	return true, ""
}

// probed records a probe result: UnhealthyAfter failures in a row take the backend out,
// HealthyAfter passes in a row bring it back, and a pass after an ejection ended ends
// the ejection.
func (e *Edge) probed(b *backend, ok bool, detail string, now time.Time) {
	h := e.rt.Load().tbl.Health
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.probePass++
		b.probeFail = 0
		b.lastProbeErr = ""
	} else {
		b.probeFail++
		b.probePass = 0
		b.lastProbeErr = detail
	}
	switch healthy := b.healthy.Load(); {
	case healthy && b.probeFail >= h.UnhealthyAfter:
		b.healthy.Store(false)
		e.metrics.unhealthy(b)
		e.events.add(Event{At: now.UTC(), Kind: KindHealth, Action: "backend_unhealthy", Target: b.base, Result: "ok",
			Detail: fmt.Sprintf("%s/%s: %d probes failed in a row (%s)", b.region, b.cluster, b.probeFail, detail)})
	case !healthy && b.probePass >= h.HealthyAfter:
		b.healthy.Store(true)
		b.consecutive.Store(0)
		b.win.reset()
		b.probation(now)
		e.events.add(Event{At: now.UTC(), Kind: KindHealth, Action: "backend_healthy", Target: b.base, Result: "ok",
			Detail: fmt.Sprintf("%s/%s: %d probes passed in a row", b.region, b.cluster, b.probePass)})
	}
	if u := b.ejectedUntil.Load(); ok && u != 0 && now.UnixNano() >= u {
		b.ejectedUntil.Store(0)
		b.lastEjectEnd = now
		b.consecutive.Store(0)
		b.win.reset()
		b.probation(now)
		e.events.add(Event{At: now.UTC(), Kind: KindHealth, Action: "return_backend", Target: b.base, Result: "ok",
			Detail: fmt.Sprintf("%s/%s: ejection over and a probe passed", b.region, b.cluster)})
	}
}
