package edge

import (
	"context"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// backend is one process of a pool. Its id is region/cluster/service/url (or
// region/admin/url); a reloaded table keeps the state of every backend whose id is
// unchanged, so a reload neither forgets an ejection nor resets the load balancing.
type backend struct {
	id, region, cluster, service, zone string
	url                                *url.URL
	base                               string // canonical URL, for status, metrics and logs

	outstanding  atomic.Int64 // requests sent and not yet answered in full
	healthy      atomic.Bool  // the active probe's verdict
	ejectedUntil atomic.Int64 // Unix nanoseconds; 0: not ejected. It ends at the first probe passed after it.
	consecutive  atomic.Int64 // passive failures in a row
	lastFailure  atomic.Int64 // Unix nanoseconds of the last failed attempt

	mu           sync.Mutex // guards the fields below
	probePass    int        // probes passed in a row
	probeFail    int        // probes failed in a row
	ejections    int        // ejections in a row (the backoff exponent)
	lastEjectEnd time.Time
	lastProbeErr string

	win      *window // attempts and failures, for the error-rate rule and status
	requests atomic.Uint64
	failures atomic.Uint64
	ejected  atomic.Uint64 // ejections since the edge started
	retries  atomic.Uint64 // attempts retried away from this backend

	stop context.CancelFunc // stops its prober; set by the edge
}

func newBackend(id, region, cluster, service, zone string, u *url.URL, base string, w time.Duration) *backend {
	b := &backend{id: id, region: region, cluster: cluster, service: service, zone: zone, url: u, base: base, win: newWindow(w)}
	// Optimistic until the first probe (run at once): a backend that is down costs a
	// connect failure, which is always retried on another backend.
	b.healthy.Store(true)
	return b
}

// isEjected reports whether the passive detection has the backend out.
func (b *backend) isEjected() bool { return b.ejectedUntil.Load() != 0 }

// usable reports whether the backend may get traffic, health and ejection considered.
func (b *backend) usable() bool { return b.healthy.Load() && !b.isEjected() }

// suspectFor is how long after a failed attempt a backend gets no request that cannot
// be retried (not idempotent) while a backend without a recent failure is available: a
// backend that starts failing then costs at most the one such request that revealed it,
// while idempotent requests (retried when they fail) keep testing it for the outlier
// rules.
const suspectFor = 2 * time.Second

// clean reports whether the backend has not failed in the last suspectFor.
func (b *backend) clean(now time.Time) bool {
	return now.UnixNano()-b.lastFailure.Load() > int64(suspectFor)
}

// probation makes a backend that comes back (an ejection over, healthy again) count as
// just failed: for suspectFor it gets idempotent requests only, which retry elsewhere if
// it fails them.
func (b *backend) probation(now time.Time) { b.lastFailure.Store(now.UnixNano()) }

// ejectionFor is the length of the next ejection: base doubled for each ejection in a
// row, at most max. A backend that stayed in for max since its last ejection starts
// again from base.
func (b *backend) ejectionFor(now time.Time, base, maxD time.Duration) time.Duration {
	if !b.lastEjectEnd.IsZero() && now.Sub(b.lastEjectEnd) > maxD {
		b.ejections = 0
	}
	d := time.Duration(float64(base) * math.Pow(2, float64(min(b.ejections, 30))))
	if d > maxD || d <= 0 {
		d = maxD
	}
	b.ejections++
	return d
}

// pool is a set of interchangeable backends: a cluster's default backends, one of its
// services' backends, or a region's admin backends.
type pool struct {
	key                      string // region/cluster/service, or region/admin
	region, cluster, service string
	admin                    bool
	backends                 []*backend
	st                       *poolState
}

// poolState is a pool's outlier state, kept across reloads like a backend's. Its mutex
// serialises the ejection decisions of the pool's backends, so the cap on ejected
// backends holds under concurrent failures.
type poolState struct {
	mu           sync.Mutex
	win          *window
	consecutive  atomic.Int64
	ejectedUntil atomic.Int64 // the whole pool (a cluster's service) ejected; 0: not
	ejections    int
	lastEjectEnd time.Time
	ejected      atomic.Uint64 // pool ejections since the edge started
}

// poolOut reports whether the whole pool is ejected at now.
func (p *pool) poolOut(now time.Time) bool {
	u := p.st.ejectedUntil.Load()
	return u != 0 && now.UnixNano() < u
}

// cluster is a login cluster in a region.
type cluster struct {
	name, region string
	weight       int // the table's
	capacity     float64
	channels     []string
	def          *pool
	services     map[string]*pool
	stats        *clusterStats
}

// pool returns the cluster's pool for service: its own backends for the service, or its
// default backends.
func (c *cluster) pool(service string) *pool {
	if p := c.services[service]; p != nil {
		return p
	}
	return c.def
}

// pools lists the default pool and the service pools.
func (c *cluster) pools() []*pool {
	out := []*pool{c.def}
	for _, s := range sortedServiceKeys(c.services) {
		out = append(out, c.services[s])
	}
	return out
}

func (c *cluster) serves(ch string) bool {
	if len(c.channels) == 0 {
		return true
	}
	for _, s := range c.channels {
		if s == ch {
			return true
		}
	}
	return false
}

// clusterStats is the load a cluster gets from this edge (attempts per second and the
// failed share), kept across reloads by region/cluster.
type clusterStats struct {
	win         *window
	lastFailure atomic.Int64 // Unix nanoseconds of the last failed attempt (or the end of an ejection)
}

// clean reports whether the cluster has not failed in the last suspectFor: a failure
// may be the whole cluster's, so requests that cannot be retried prefer another cluster
// for a while.
func (s *clusterStats) clean(now time.Time) bool {
	return now.UnixNano()-s.lastFailure.Load() > int64(suspectFor)
}
