package edge

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// outcome is how one attempt on a backend ended.
type outcome int

const (
	outcomeOK       outcome = iota
	outcomeConnect          // no connection: nothing reached the backend
	outcomeTimeout          // no response headers within the attempt's timeout
	outcome5xx              // a 5xx that counts as a failure (see countsAsFailure)
	outcomeError            // the connection failed after the request was sent
	outcomeCanceled         // the client went away or the request's deadline passed: not the backend's fault
)

func (o outcome) String() string {
	switch o {
	case outcomeConnect:
		return "connect_error"
	case outcomeTimeout:
		return "timeout"
	case outcome5xx:
		return "5xx"
	case outcomeError:
		return "error"
	case outcomeCanceled:
		return "canceled"
	}
	return "ok"
}

func (o outcome) failed() bool { return o != outcomeOK && o != outcomeCanceled }

// countsAsFailure reports whether a response status says the backend is failing: any
// 5xx but 501 and 505 (the request's fault), and but a 503 with Retry-After (the backend
// deliberately shedding or read-only, ARCHITECTURE §6: ejecting it would not help).
func countsAsFailure(resp *http.Response) bool {
	switch s := resp.StatusCode; {
	case s < 500, s == http.StatusNotImplemented, s == http.StatusHTTPVersionNotSupported:
		return false
	case s == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		return false
	}
	return true
}

// observe records an attempt's outcome on the backend, its pool and its cluster, and
// ejects the backend (or the cluster's pool) when the outlier rules say so.
func (e *Edge) observe(rt *routing, t target, oc outcome, now time.Time) {
	if oc == outcomeCanceled {
		return
	}
	failed := oc.failed()
	b := t.b
	b.requests.Add(1)
	b.win.add(now, failed)
	t.p.st.win.add(now, failed)
	if t.c != nil {
		t.c.stats.win.add(now, failed)
	}
	if !failed {
		b.consecutive.Store(0)
		t.p.st.consecutive.Store(0)
		return
	}
	b.failures.Add(1)
	b.lastFailure.Store(now.UnixNano())
	if t.c != nil {
		t.c.stats.lastFailure.Store(now.UnixNano())
	}
	b.consecutive.Add(1)
	t.p.st.consecutive.Add(1)
	if reason := outlierReason(rt, b.consecutive.Load(), b.win, now); reason != "" {
		e.eject(rt, t, reason, now)
	}
}

// outlierReason names the rule a failure record breaks, or "".
func outlierReason(rt *routing, consecutive int64, w *window, now time.Time) string {
	o := rt.tbl.Outlier
	if consecutive >= int64(o.Consecutive) {
		return "consecutive_failures"
	}
	if n, f := w.sum(now); n >= o.MinRequests && float64(f) >= o.ErrorRate*float64(n) {
		return "error_rate"
	}
	return ""
}

// maxEjected is how many of n may be ejected at once: the configured share, at least one.
func maxEjected(share float64, n int) int {
	return max(1, int(math.Floor(share*float64(n)+1e-9)))
}

// eject takes b out for an ejection period, unless that would eject more than the
// allowed share of its pool; then, when the pool as a whole breaks the outlier rules,
// the whole pool (the cluster, for this service) goes out instead, unless that would
// eject more than the allowed share of the region's clusters.
func (e *Edge) eject(rt *routing, t target, reason string, now time.Time) {
	o := rt.tbl.Outlier
	b, p := t.b, t.p
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	if b.isEjected() {
		return
	}
	out := 0
	for _, x := range p.backends {
		if x.isEjected() {
			out++
		}
	}
	if out < maxEjected(o.MaxEjectedShare, len(p.backends)) {
		b.mu.Lock()
		d := b.ejectionFor(now, o.BaseEjection.D(), o.MaxEjection.D())
		b.mu.Unlock()
		b.ejectedUntil.Store(now.Add(d).UnixNano())
		b.consecutive.Store(0)
		b.win.reset()
		b.ejected.Add(1)
		e.metrics.ejection(b, reason)
		e.events.add(Event{At: now.UTC(), Kind: KindHealth, Action: "eject_backend", Target: b.base, Result: "ok",
			Detail: fmt.Sprintf("%s/%s: %s; out for %s, then back after a passed probe", b.region, poolName(p), reason, d)})
		return
	}
	e.metrics.ejectionCapped(p)
	if t.c == nil || p.poolOut(now) {
		return // the admin tier has no other cluster to send to
	}
	preason := outlierReason(rt, p.st.consecutive.Load(), p.st.win, now)
	if preason == "" {
		return
	}
	peers, outPools := 0, 0
	for _, c := range rt.clustersOf(t.c.region) {
		peers++
		if c.pool(p.service).poolOut(now) {
			outPools++
		}
	}
	if outPools >= maxEjected(o.MaxEjectedShare, peers) {
		return
	}
	if !p.st.lastEjectEnd.IsZero() && now.Sub(p.st.lastEjectEnd) > o.MaxEjection.D() {
		p.st.ejections = 0
	}
	d := time.Duration(float64(o.BaseEjection.D()) * math.Pow(2, float64(min(p.st.ejections, 30))))
	if d > o.MaxEjection.D() || d <= 0 {
		d = o.MaxEjection.D()
	}
	p.st.ejections++
	p.st.lastEjectEnd = now.Add(d)
	p.st.ejectedUntil.Store(now.Add(d).UnixNano())
	t.c.stats.lastFailure.Store(now.Add(d).UnixNano()) // on probation when it returns
	p.st.consecutive.Store(0)
	p.st.win.reset()
	p.st.ejected.Add(1)
	e.metrics.poolEjection(p, preason)
	e.events.add(Event{At: now.UTC(), Kind: KindHealth, Action: "eject_cluster", Target: t.c.region + "/" + t.c.name, Result: "ok",
		Detail: fmt.Sprintf("%s: %s with %d of %d backends already ejected; out for %s", poolName(p), preason, out, len(p.backends), d)})
}

// poolName names a pool for events: the cluster, with the service when it has one.
func poolName(p *pool) string {
	switch {
	case p.admin:
		return "admin"
	case p.service != "":
		return p.cluster + " (" + p.service + ")"
	}
	return p.cluster
}
