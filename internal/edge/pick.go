package edge

import (
	"math/rand/v2"
	"slices"
	"time"
)

// target is a chosen backend with its pool and cluster (nil for the admin tier).
type target struct {
	b *backend
	p *pool
	c *cluster
}

// level is how picky a choice is.
type level int

const (
	levelClean   level = iota // usable, and no failure of it or its cluster in the last suspectFor
	levelHealthy              // usable: healthy and not ejected
	levelAny                  // anything not drained ("panic" routing)

	levelOtherCluster level = 8 // flag: not a cluster of a backend in tried
)

// pick chooses the backend for one attempt of rq, never one in tried.
//
// Login: the regions of the tenant's shard in this edge's order (operator failovers
// applied); in the first region with a cluster that serves the tenant's channel, is not
// drained, not ejected as a whole and has a usable backend for the service, a cluster by
// weight among those (evenly when their weights are all 0: weight is a preference, a
// drain is the hard stop), then a backend of it by power of two choices on outstanding
// requests. A request that cannot be retried prefers, within a region, backends without
// a recent failure (backend.clean). Admin: the admin backends of the shard's primary
// region.
//
// When nothing is usable anywhere, pick falls back ("panic" routing) to any backend that
// is not drained, ignoring health: a health check that is wrong everywhere must not take
// the whole tier down. The second result reports that fallback.
func pick(rq *routeReq, st *opState, tried []*backend, now time.Time) (target, bool) {
	levels := []level{levelHealthy}
	if !rq.idempotent {
		levels = []level{levelClean, levelHealthy}
	}
	if rq.tier == tierAdmin {
		p := rq.shard.primary.admin
		for _, l := range append(levels, levelAny) {
			if b := choose(p, st, tried, l, now); b != nil {
				return target{b: b, p: p}, l == levelAny
			}
		}
		return target{}, false
	}
	order := effectiveOrder(rq.shard, st.o.Failovers)
	for _, r := range order {
		for _, l := range levels {
			// A retry goes to another cluster of the region when one can take it: what
			// failed may be the whole cluster (a shared dependency, a bad deploy).
			if len(tried) > 0 {
				if t, ok := pickInRegion(r, rq, st, tried, now, l|levelOtherCluster); ok {
					return t, false
				}
			}
			if t, ok := pickInRegion(r, rq, st, tried, now, l); ok {
				return t, false
			}
		}
	}
	for _, r := range order {
		if t, ok := pickInRegion(r, rq, st, tried, now, levelAny); ok {
			return t, true
		}
	}
	return target{}, false
}

func pickInRegion(r *region, rq *routeReq, st *opState, tried []*backend, now time.Time, l level) (target, bool) {
	other := l&levelOtherCluster != 0
	l &^= levelOtherCluster
	var cands [8]target
	ts := cands[:0]
	total := 0
	for _, c := range r.clusters {
		if !c.serves(rq.channel) || st.clusterDrained(c.region, c.name) || (other && triedIn(tried, c)) {
			continue
		}
		p := c.pool(rq.service)
		if (l != levelAny && p.poolOut(now)) || (l == levelClean && !c.stats.clean(now)) {
			continue
		}
		b := choose(p, st, tried, l, now)
		if b == nil {
			continue
		}
		ts = append(ts, target{b: b, p: p, c: c})
		total += st.weight(c)
	}
	switch {
	case len(ts) == 0:
		return target{}, false
	case len(ts) == 1:
		return ts[0], true
	case total == 0:
		return ts[rand.IntN(len(ts))], true
	}
	n := rand.IntN(total)
	for _, t := range ts {
		if n -= st.weight(t.c); n < 0 {
			return t, true
		}
	}
	return ts[len(ts)-1], true
}

// choose picks a backend of p at level l that is not drained and not in tried, by power
// of two choices: two at random, the one with fewer outstanding requests. It balances
// like least-outstanding-requests without every request racing to the same momentarily
// idle backend, and steers away from a backend that hangs (its requests pile up).
func choose(p *pool, st *opState, tried []*backend, l level, now time.Time) *backend {
	var buf [16]*backend
	cands := buf[:0]
	for _, b := range p.backends {
		if st.zoneDrained(b.region, b.zone) || slices.Contains(tried, b) ||
			(l <= levelHealthy && !b.usable()) || (l == levelClean && !b.clean(now)) {
			continue
		}
		cands = append(cands, b)
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	if b.outstanding.Load() < a.outstanding.Load() {
		return b
	}
	return a
}

// triedIn reports whether a backend of c is in tried.
func triedIn(tried []*backend, c *cluster) bool {
	for _, b := range tried {
		if b.region == c.region && b.cluster == c.name {
			return true
		}
	}
	return false
}
