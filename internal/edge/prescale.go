package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// LoadReport is what an edge reports about the load it sends to each login cluster
// (GET /v1/load): the pre-scale check of every edge sums these.
type LoadReport struct {
	Edge     string        `json:"edge"`   // the reporting edge's control URL, as it knows itself
	Region   string        `json:"region"` // the reporting edge's region
	At       time.Time     `json:"at"`
	Clusters []ClusterLoad `json:"clusters"`
}

// ClusterLoad is one cluster's load as seen by one edge.
type ClusterLoad struct {
	Region      string  `json:"region"`
	Cluster     string  `json:"cluster"`
	RPS         float64 `json:"rps"`          // attempts per second this edge sent, over the last 10s
	CapacityRPS float64 `json:"capacity_rps"` // the table's capacity_rps
	Available   bool    `json:"available"`    // the edge can send it traffic now
}

// CheckResult is a pre-scale check: for each cluster that would take more traffic, its
// load now (summed over the edges that reported), after the change, and its capacity.
type CheckResult struct {
	OK       bool           `json:"ok"`
	Forced   bool           `json:"forced,omitempty"`
	Clusters []ClusterCheck `json:"clusters"`
	Problems []string       `json:"problems,omitempty"` // why the check fails
	Edges    []EdgeReport   `json:"edges"`              // who reported
}

// ClusterCheck is one cluster in a pre-scale check.
type ClusterCheck struct {
	Region      string  `json:"region"`
	Cluster     string  `json:"cluster"`
	LoadRPS     float64 `json:"load_rps"`
	AfterRPS    float64 `json:"after_rps"`
	CapacityRPS float64 `json:"capacity_rps"` // declared capacity, less its drained zones' share
	OK          bool    `json:"ok"`
}

// EdgeReport says whether an edge answered the load query.
type EdgeReport struct {
	URL    string `json:"url"`
	Region string `json:"region"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

// localLoad is this edge's LoadReport.
func (e *Edge) localLoad() LoadReport {
	rt, st, now := e.rt.Load(), e.state.load(), time.Now()
	rep := LoadReport{Edge: e.cfg.SelfControlURL, Region: e.cfg.Region, At: now.UTC(), Clusters: []ClusterLoad{}}
	for _, k := range sortedClusterKeys(rt.clusters) {
		c := rt.clusters[k]
		rps, _ := c.stats.win.rate(now)
		rep.Clusters = append(rep.Clusters, ClusterLoad{Region: c.region, Cluster: c.name, RPS: round2(rps),
			CapacityRPS: c.capacity, Available: clusterAvailable(c, st, now)})
	}
	return rep
}

// loads sums the load every edge of the table reports per cluster (region/cluster), in
// total and by the region of the reporting edge (fromRegion: what the edges of a region
// send where). It asks every edge listed in the table but itself, concurrently, bounded
// by ctx and the peer client's timeout, and lists who answered.
func (e *Edge) loads(ctx context.Context, rt *routing) (sum map[string]float64, fromRegion map[string]map[string]float64, _ []EdgeReport) {
	type peer struct{ url, region string }
	var peers []peer
	seen := map[string]bool{}
	for _, sn := range sortedShardNames(rt.shards) {
		for _, r := range rt.shards[sn].order {
			for _, u := range r.edges {
				u = strings.TrimRight(u, "/")
				if !seen[u] {
					seen[u] = true
					peers = append(peers, peer{u, r.name})
				}
			}
		}
	}
	sum, fromRegion = map[string]float64{}, map[string]map[string]float64{}
	add := func(edgeRegion string, cs []ClusterLoad) {
		if fromRegion[edgeRegion] == nil {
			fromRegion[edgeRegion] = map[string]float64{}
		}
		for _, c := range cs {
			sum[c.Region+"/"+c.Cluster] += c.RPS
			fromRegion[edgeRegion][c.Region+"/"+c.Cluster] += c.RPS
		}
	}
	var reports []EdgeReport
	add(e.cfg.Region, e.localLoad().Clusters)
	reports = append(reports, EdgeReport{URL: e.selfURL(), Region: e.cfg.Region, OK: true})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range peers {
		if e.isSelf(p.url) {
			continue
		}
		wg.Go(func() {
			rep, err := e.peerLoad(ctx, p.url)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				reports = append(reports, EdgeReport{URL: p.url, Region: p.region, Error: err.Error()})
				return
			}
			reports = append(reports, EdgeReport{URL: p.url, Region: p.region, OK: true})
			add(p.region, rep.Clusters)
		})
	}
	wg.Wait()
	sort.Slice(reports, func(i, j int) bool { return reports[i].URL < reports[j].URL })
	return sum, fromRegion, reports
}

func (e *Edge) selfURL() string {
	if e.cfg.SelfControlURL != "" {
		return e.cfg.SelfControlURL
	}
	return "(this edge)"
}

// isSelf reports whether a listed edge URL is this edge's control API.
func (e *Edge) isSelf(u string) bool {
	if e.cfg.SelfControlURL == "" {
		return false
	}
	a, err1 := url.Parse(u)
	b, err2 := url.Parse(e.cfg.SelfControlURL)
	return err1 == nil && err2 == nil && strings.EqualFold(a.Host, b.Host)
}

// peerLoad asks another edge for its LoadReport with the shared control token.
func (e *Edge) peerLoad(ctx context.Context, base string) (LoadReport, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/load", nil)
	if err != nil {
		return LoadReport{}, fmt.Errorf("bad URL")
	}
	req.Header.Set("Authorization", "Bearer "+string(e.token))
	resp, err := e.peerClient.Do(req)
	if err != nil {
		return LoadReport{}, fmt.Errorf("unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return LoadReport{}, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	var rep LoadReport
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rep); err != nil {
		return LoadReport{}, fmt.Errorf("not a load report")
	}
	return rep, nil
}

// check projects the login load of the affected regions under the Overrides after and
// compares every cluster that would take traffic with its capacity (less the share of
// its backends in drained zones).
//
// For each region whose clusters' weights or drains change, the region's current load
// (summed over the edges) is split over its clusters left by their new weights; a
// region coming back from a failover (failback) also gets what its edges send to other
// regions now. For a region failover (from → to), the from region's load is added to
// the to region's clusters by weight. A region left with no cluster, or a target region
// whose edges do not report, fails the check: the edge cannot show the target can take
// the load.
func (e *Edge) check(ctx context.Context, after Overrides, regions []string, failFrom, failTo string, failback bool) CheckResult {
	rt, now := e.rt.Load(), time.Now()
	stAfter := newOpState(after)
	load, fromRegion, reps := e.loads(ctx, rt)
	res := CheckResult{OK: true, Edges: reps, Clusters: []ClusterCheck{}}
	fail := func(format string, args ...any) {
		res.OK = false
		res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
	}
	// Edges of the regions that would take load must all have reported.
	needed := append([]string(nil), regions...)
	if failTo != "" {
		needed = append(needed, failTo)
	}
	for _, r := range needed {
		for _, rep := range reps {
			if rep.Region == r && !rep.OK {
				fail("edge %s of region %s did not report its load (%s)", rep.URL, r, rep.Error)
			}
		}
		if r != e.cfg.Region && !regionHasEdges(rt, r) {
			fail("region %s lists no edges in the routing table: nothing reports its load", r)
		}
	}
	project := func(r string, extra float64) {
		cs := rt.clustersOf(r)
		total := extra
		for _, c := range cs {
			total += load[r+"/"+c.name]
		}
		var left []*cluster
		wsum := 0
		for _, c := range cs {
			if stAfter.clusterDrained(r, c.name) || !clusterAvailable(c, stAfter, now) {
				continue
			}
			left = append(left, c)
			wsum += stAfter.weight(c)
		}
		if len(left) == 0 {
			fail("no login cluster of region %s would be left to take its %.1f requests/s", r, total)
			return
		}
		for _, c := range left {
			share := 1 / float64(len(left))
			if wsum > 0 {
				share = float64(stAfter.weight(c)) / float64(wsum)
			}
			capa := c.capacity * zoneShare(c, stAfter)
			cc := ClusterCheck{Region: r, Cluster: c.name, LoadRPS: round2(load[r+"/"+c.name]), AfterRPS: round2(total * share),
				CapacityRPS: round2(capa)}
			cc.OK = cc.AfterRPS <= capa
			if !cc.OK {
				fail("cluster %s/%s would take %.1f requests/s, above its capacity of %.1f", r, c.name, cc.AfterRPS, capa)
			}
			res.Clusters = append(res.Clusters, cc)
		}
	}
	for _, r := range regions {
		extra := 0.0
		if failback {
			// What the region's own edges send elsewhere now comes home.
			for key, rps := range fromRegion[r] {
				if cr, _ := splitKey(key); cr != r {
					extra += rps
				}
			}
		}
		project(r, extra)
	}
	if failTo != "" {
		moved := 0.0
		for _, c := range rt.clustersOf(failFrom) {
			moved += load[failFrom+"/"+c.name]
		}
		project(failTo, moved)
	}
	return res
}

func regionHasEdges(rt *routing, name string) bool {
	for _, r := range rt.regionsNamed(name) {
		if len(r.edges) > 0 {
			return true
		}
	}
	return false
}

// zoneShare is the share of a cluster's default backends outside drained zones: what
// is left of its capacity.
func zoneShare(c *cluster, st *opState) float64 {
	if len(c.def.backends) == 0 {
		return 0
	}
	n := 0
	for _, b := range c.def.backends {
		if !st.zoneDrained(b.region, b.zone) {
			n++
		}
	}
	return float64(n) / float64(len(c.def.backends))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
