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

	levelOtherCluster level = 8  // flag: not a cluster of a backend in tried
	levelOtherZone    level = 16 // flag: not a zone (of its region) of a backend in tried
)

// base is l without its flags.
func (l level) base() level { return l &^ (levelOtherCluster | levelOtherZone) }

// retryPrefs is what a retry prefers within a region at each health level, best first:
// another cluster and another zone; another zone in any cluster; another cluster;
// anything not tried. What failed may be the whole cluster (a shared dependency, a bad
// deploy) or the whole zone (its network: answers lost on the way back), and another
// backend in the same place would likely fail the same way. A first attempt uses the
// last entry only (no preference).
var retryPrefs = [...]level{levelOtherCluster | levelOtherZone, levelOtherZone, levelOtherCluster, 0}

// pick chooses the backend for one attempt of rq, never one in tried.
//
// Login: the regions of the tenant's shard in this edge's order (operator failovers
// applied); in the first region with a cluster that serves the tenant's channel, is not
// drained, not ejected as a whole and has a usable backend for the service, a cluster by
// weight among those (evenly when their weights are all 0: weight is a preference, a
// drain is the hard stop), then a backend of it by power of two choices on outstanding
// requests. A request that is not idempotent prefers, within a region, backends without
// a recent failure (backend.clean): one without a retry key cannot be retried once sent,
// and one with a key would cost its client a second attempt. Admin: the admin backends
// of the shard's primary region.
//
// A retry (tried not empty) prefers, within a region and at each health level, in the
// order of retryPrefs: another cluster in another zone, another zone in any cluster,
// another cluster, then any backend not tried; an admin retry another zone, then any
// admin backend not tried. It leaves the region only when nothing in it is usable, as a
// first attempt does — except a keyed request that reached a backend (rq.pinRegion):
// its retry stays in that region, panic routing included, or there is none. A first
// attempt ignores zones.
//
// A first attempt of a request with an instance tag (rq.tagged, see requestTag) goes to
// the backend with that tag when it can take it (see affine), whatever cluster or
// region of the order the weights would choose: the flow's state may be on that
// process only. A retry ignores the tag.
//
// When nothing is usable anywhere, pick falls back ("panic" routing) to any backend that
// is not drained, ignoring health (with the same preferences for a retry): a health
// check that is wrong everywhere must not take the whole tier down. The second result
// reports that fallback.
func pick(rq *routeReq, st *opState, tried []*backend, now time.Time) (target, bool) {
	var lv [3]level // fixed arrays: pick runs on every attempt and allocates nothing
	levels := lv[:0]
	if !rq.idempotent {
		levels = append(levels, levelClean)
	}
	levels = append(levels, levelHealthy)
	prefs := retryPrefs[len(retryPrefs)-1:]
	if len(tried) > 0 {
		prefs = retryPrefs[:]
	}
	if rq.tier == tierAdmin {
		p := rq.shard.primary.admin
		for _, l := range append(levels, levelAny) {
			for _, f := range prefs {
				if f&levelOtherCluster != 0 {
					continue // one pool: no other cluster
				}
				if b := choose(p, st, tried, l|f, now); b != nil {
					return target{b: b, p: p}, l == levelAny
				}
			}
		}
		return target{}, false
	}
	var ob [8]*region
	order := appendEffectiveOrder(ob[:0], rq.shard, st.o.Failovers)
	if len(tried) == 0 && len(rq.tagged) > 0 {
		if t, ok := affine(rq, order, st, now); ok {
			return t, false
		}
	}
	if t, ok := leaveFailingRegion(rq, order, st, tried, now, prefs); ok {
		return t, false
	}
	for _, r := range order {
		if rq.pinRegion != "" && r.name != rq.pinRegion {
			continue
		}
		for _, l := range levels {
			for _, f := range prefs {
				if t, ok := pickInRegion(r, rq, st, tried, now, l|f); ok {
					return t, false
				}
			}
		}
	}
	for _, r := range order {
		if rq.pinRegion != "" && r.name != rq.pinRegion {
			continue
		}
		for _, f := range prefs {
			if t, ok := pickInRegion(r, rq, st, tried, now, levelAny|f); ok {
				return t, true
			}
		}
	}
	return target{}, false
}

// leaveFailingRegion is a retry's first choice when the region of the attempt that
// failed is failing as a whole (regionFailing): a clean backend of another region of
// the order. When a whole region fails (its processes killed, its database gone), the
// cap on ejections keeps one of its clusters "usable" until that cluster's probes fail —
// a second or two in which every retry would otherwise land on another dead process of
// the same region. Not for a retry pinned to its region (a keyed request that reached a
// backend).
func leaveFailingRegion(rq *routeReq, order []*region, st *opState, tried []*backend, now time.Time, prefs []level) (target, bool) {
	if len(tried) == 0 || rq.pinRegion != "" || len(order) < 2 {
		return target{}, false
	}
	last := tried[len(tried)-1].region
	var home *region
	for _, r := range order {
		if r.name == last {
			home = r
		}
	}
	if home == nil || !regionFailing(home, rq, st, now) {
		return target{}, false
	}
	for _, r := range order {
		if r == home {
			continue
		}
		for _, f := range prefs {
			if t, ok := pickInRegion(r, rq, st, tried, now, levelClean|f); ok {
				return t, true
			}
		}
	}
	return target{}, false
}

// regionFailing reports a region failing as a whole for rq: at least two of its
// clusters serve rq, at least one of them is ejected as a whole, and every other one has
// had a failure in the last suspectFor. One failed attempt never makes a region
// failing — the tried backend's own cluster is never clean right after it — nor does a
// single-cluster region, nor scattered errors while no cluster is out: a retry leaves the
// region only on the signs of a region-wide loss (its regional state — authorization
// requests, codes, sessions — is not in the other region).
func regionFailing(home *region, rq *routeReq, st *opState, now time.Time) bool {
	clusters, out := 0, 0
	for _, c := range home.clusters {
		if !c.serves(rq.channel) || st.clusterDrained(c.region, c.name) {
			continue
		}
		clusters++
		switch {
		case c.pool(rq.service).poolOut(now):
			out++
		case c.stats.clean(now):
			return false
		}
	}
	return clusters >= 2 && out >= 1
}

// pickInRegion chooses a cluster of r by weight among those with a backend for rq at
// level l (with its flags: levelOtherCluster skips a cluster of a backend in tried,
// levelOtherZone is choose's), then that backend.
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
		if (l.base() != levelAny && p.poolOut(now)) || (l.base() == levelClean && !c.stats.clean(now)) {
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

// choose picks a backend of p at level l that is not drained and not in tried (with
// levelOtherZone in l: nor in a zone of a backend in tried), by power of two choices:
// two at random, the one with fewer outstanding requests. It balances like
// least-outstanding-requests without every request racing to the same momentarily idle
// backend, and steers away from a backend that hangs (its requests pile up).
func choose(p *pool, st *opState, tried []*backend, l level, now time.Time) *backend {
	otherZone := l&levelOtherZone != 0
	l = l.base()
	var buf [16]*backend
	cands := buf[:0]
	for _, b := range p.backends {
		if st.zoneDrained(b.region, b.zone) || slices.Contains(tried, b) || (otherZone && zoneTried(tried, b)) ||
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

// zoneTried reports whether a backend in the zone of b (in its region) is in tried.
func zoneTried(tried []*backend, b *backend) bool {
	for _, t := range tried {
		if t.region == b.region && t.zone == b.zone {
			return true
		}
	}
	return false
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
