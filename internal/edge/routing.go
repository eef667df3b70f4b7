package edge

import (
	"maps"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/ninesid/nines/internal/edge/table"
)

// routing is the run-time form of a routing table for one edge: shards, their regions
// in this edge's failover order, clusters and pools with live backend state. It is
// immutable once built; a reload builds a new one (reusing the state of what did not
// change) and swaps it in.
type routing struct {
	tbl      *table.Table
	shards   map[string]*shard
	backends map[string]*backend // by id
	pools    map[string]*pool    // by key
	clusters map[string]*cluster // by region/cluster
	zones    map[string]bool     // region/zone of every backend
	regions  map[string]bool     // every region name
	// instances maps an instance tag (table.Backend.Instance) to the login backends
	// with it: one per pool listing the process (its cluster's default backends, a
	// service's). Built with the routing, so a reload updates it.
	instances map[string][]instance
}

// instance is a login backend with an instance tag, with its pool, cluster and region:
// what affine needs to send a tagged request there without a lookup.
type instance struct {
	t target
	r *region
}

// shard is a shard with its regions: order is the order in which this edge tries them
// for login traffic (its own region first, then that region's failover list).
type shard struct {
	name    string
	regions map[string]*region
	primary *region
	order   []*region
}

type region struct {
	name, shard string
	primary     bool
	clusters    []*cluster
	admin       *pool
	edges       []string
}

// buildRouting makes the run-time routing of tbl for an edge in edgeRegion, reusing
// the backend and pool state of old (nil at start) and the cluster statistics of stats.
func buildRouting(tbl *table.Table, edgeRegion string, old *routing, stats func(key string) *clusterStats) *routing {
	w := tbl.Outlier.Window.D()
	rt := &routing{tbl: tbl, shards: map[string]*shard{}, backends: map[string]*backend{}, pools: map[string]*pool{},
		clusters: map[string]*cluster{}, zones: map[string]bool{}, regions: map[string]bool{},
		instances: map[string][]instance{}}
	mkPool := func(key, reg, clu, svc string, admin bool, bs []table.Backend) *pool {
		p := &pool{key: key, region: reg, cluster: clu, service: svc, admin: admin}
		if old != nil && old.pools[key] != nil && len(old.pools[key].st.win.secs) == int(w/time.Second) {
			p.st = old.pools[key].st
		} else {
			p.st = &poolState{win: newWindow(w)}
		}
		for _, tb := range bs {
			base := table.CanonicalURL(tb.URL)
			id := key + "/" + base
			var b *backend
			if old != nil && old.backends[id] != nil && old.backends[id].zone == tb.Zone && len(old.backends[id].win.secs) == int(w/time.Second) {
				b = old.backends[id]
			} else {
				u, _ := url.Parse(base) // validated by table.Parse
				b = newBackend(id, reg, clu, svc, tb.Zone, u, base, w)
			}
			rt.backends[id] = b
			rt.zones[reg+"/"+tb.Zone] = true
			p.backends = append(p.backends, b)
		}
		rt.pools[key] = p
		return p
	}
	for _, ts := range tbl.Shards {
		s := &shard{name: ts.Name, regions: map[string]*region{}}
		for _, tr := range ts.Regions {
			r := &region{name: tr.Name, shard: ts.Name, primary: tr.Primary, edges: tr.Edges}
			rt.regions[tr.Name] = true
			if tr.Admin != nil {
				r.admin = mkPool(tr.Name+"/admin", tr.Name, "", "", true, tr.Admin.Backends)
			}
			for _, tc := range tr.Clusters {
				key := tr.Name + "/" + tc.Name
				c := &cluster{name: tc.Name, region: tr.Name, weight: tc.EffectiveWeight(), capacity: tc.CapacityRPS,
					channels: tc.Channels, services: map[string]*pool{}, stats: stats(key)}
				c.def = mkPool(key+"/", tr.Name, tc.Name, table.ServiceDefault, false, tc.Backends)
				rt.addInstances(r, c, c.def, tc.Backends)
				for _, name := range slices.Sorted(maps.Keys(tc.Services)) {
					sp := tc.Services[name]
					c.services[name] = mkPool(key+"/"+name, tr.Name, tc.Name, name, false, sp.Backends)
					rt.addInstances(r, c, c.services[name], sp.Backends)
				}
				r.clusters = append(r.clusters, c)
				rt.clusters[key] = c
			}
			s.regions[tr.Name] = r
			if tr.Primary {
				s.primary = r
			}
		}
		s.order = regionOrder(ts, s, edgeRegion)
		rt.shards[ts.Name] = s
	}
	return rt
}

// addInstances records the backends of p (built from bs, in order) that name an
// instance tag.
func (rt *routing) addInstances(r *region, c *cluster, p *pool, bs []table.Backend) {
	for i, tb := range bs {
		if tb.Instance != "" {
			rt.instances[tb.Instance] = append(rt.instances[tb.Instance], instance{t: target{b: p.backends[i], p: p, c: c}, r: r})
		}
	}
}

// regionOrder is the order in which an edge of edgeRegion tries the shard's regions:
// its own region, then the region's failover list (by default the shard's other regions
// in file order); an edge outside the shard's regions tries them in file order.
func regionOrder(ts table.Shard, s *shard, edgeRegion string) []*region {
	var names []string
	if own, ok := ts.Region(edgeRegion); ok {
		names = append(names, own.Name)
		if len(own.Failover) > 0 {
			names = append(names, own.Failover...)
		} else {
			for _, r := range ts.Regions {
				if r.Name != own.Name {
					names = append(names, r.Name)
				}
			}
		}
	} else {
		for _, r := range ts.Regions {
			names = append(names, r.Name)
		}
	}
	out := make([]*region, 0, len(names))
	for _, n := range names {
		out = append(out, s.regions[n])
	}
	return out
}

// effectiveOrder applies the operator's region failovers (from → to) to a shard's
// order: a failed-over region is replaced by its target, each region at most once.
func effectiveOrder(s *shard, failovers map[string]string) []*region {
	return appendEffectiveOrder(nil, s, failovers)
}

// appendEffectiveOrder is effectiveOrder appending to dst (when a failover applies; else
// it returns s.order itself), so that pick can keep the order in a buffer of its own
// and allocate nothing.
func appendEffectiveOrder(dst []*region, s *shard, failovers map[string]string) []*region {
	if len(failovers) == 0 {
		return s.order
	}
	out := dst[:0]
	add := func(r *region) {
		if r != nil && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, r := range s.order {
		to, moved := failovers[r.name]
		if !moved {
			add(r)
			continue
		}
		// Follow a chain (a → b, b → c) to a region that is not failed over itself.
		for seen := 0; moved && seen < len(s.order); seen++ {
			r = s.regions[to]
			if r == nil {
				break
			}
			to, moved = failovers[r.name]
		}
		if r != nil && !moved {
			add(r)
		}
	}
	return out
}

// removed lists the backends of old that are not in rt.
func (rt *routing) removed(old *routing) []*backend {
	if old == nil {
		return nil
	}
	var out []*backend
	for id, b := range old.backends {
		if rt.backends[id] != b {
			out = append(out, b)
		}
	}
	return out
}

// added lists the backends of rt that are not in old.
func (rt *routing) added(old *routing) []*backend {
	var out []*backend
	for id, b := range rt.backends {
		if old == nil || old.backends[id] != b {
			out = append(out, b)
		}
	}
	return out
}

// sortedBackends lists every backend, by id.
func (rt *routing) sortedBackends() []*backend {
	out := make([]*backend, 0, len(rt.backends))
	for _, b := range rt.backends {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// regionsNamed lists the region name in every shard that has it.
func (rt *routing) regionsNamed(name string) []*region {
	var out []*region
	for _, sn := range sortedShardNames(rt.shards) {
		if r := rt.shards[sn].regions[name]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// clustersOf lists the login clusters of a region, over every shard, by name.
func (rt *routing) clustersOf(regionName string) []*cluster {
	var out []*cluster
	for _, r := range rt.regionsNamed(regionName) {
		out = append(out, r.clusters...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedShardNames(m map[string]*shard) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedServiceKeys(m map[string]*pool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
