package edge

import (
	"net/http"
	"time"
)

// Status is the edge's whole state, for `nines ctl edge status` (GET /v1/status).
type Status struct {
	Region      string         `json:"region"` // this edge's
	Started     time.Time      `json:"started"`
	RoutesFile  string         `json:"routes_file"`
	Overrides   Overrides      `json:"overrides"`
	UndoDepth   int            `json:"undo_depth"`
	Shift       *ShiftStatus   `json:"shift,omitempty"`
	RetryTokens float64        `json:"retry_budget_tokens"`
	Regions     []RegionStatus `json:"regions"`
	Events      []Event        `json:"events"` // the last changes and health events
}

// RegionStatus is one region of one shard.
type RegionStatus struct {
	Shard        string          `json:"shard"`
	Name         string          `json:"name"`
	Primary      bool            `json:"primary"`
	Order        int             `json:"order"` // 0: this edge's first choice for the shard's login traffic
	Available    bool            `json:"available"`
	FailedOverTo string          `json:"failed_over_to,omitempty"`
	Clusters     []ClusterStatus `json:"clusters"`
	Admin        []BackendStatus `json:"admin,omitempty"`
}

// ClusterStatus is one login cluster.
type ClusterStatus struct {
	Name         string                     `json:"name"`
	Weight       int                        `json:"weight"`       // in effect
	TableWeight  int                        `json:"table_weight"` // from the routing file
	SharePercent float64                    `json:"share_percent"`
	Channels     []string                   `json:"channels,omitempty"`
	Drained      bool                       `json:"drained"`
	Ejected      bool                       `json:"ejected"` // passive detection has the whole cluster out
	Available    bool                       `json:"available"`
	CapacityRPS  float64                    `json:"capacity_rps"`
	RPS          float64                    `json:"rps"`
	ErrorRate    float64                    `json:"error_rate"`
	Ejections    uint64                     `json:"ejections"` // of backends and of the cluster, since the edge started
	Backends     []BackendStatus            `json:"backends"`
	Services     map[string][]BackendStatus `json:"services,omitempty"`
}

// BackendStatus is one backend.
type BackendStatus struct {
	URL          string     `json:"url"`
	Zone         string     `json:"zone"`
	Healthy      bool       `json:"healthy"`
	Ejected      bool       `json:"ejected"`
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
	ZoneDrained  bool       `json:"zone_drained"`
	Outstanding  int64      `json:"outstanding"`
	RPS          float64    `json:"rps"`
	ErrorRate    float64    `json:"error_rate"`
	Requests     uint64     `json:"requests"`
	Failures     uint64     `json:"failures"`
	Ejections    uint64     `json:"ejections"`
	Retries      uint64     `json:"retries"`
	ProbeError   string     `json:"probe_error,omitempty"`
}

// Status is a snapshot of the edge.
func (e *Edge) Status() Status {
	rt, st, now := e.rt.Load(), e.state.load(), time.Now()
	s := Status{Region: e.cfg.Region, Started: e.started.UTC(), RoutesFile: e.cfg.RoutesPath, Overrides: st.o,
		UndoDepth: e.state.undoDepth(), Shift: e.shiftStatus(), Events: e.events.tail("", 30), Regions: []RegionStatus{}}
	e.budget.mu.Lock()
	s.RetryTokens = round2(e.budget.tokens)
	e.budget.mu.Unlock()
	for _, sn := range sortedShardNames(rt.shards) {
		sh := rt.shards[sn]
		order := effectiveOrder(sh, st.o.Failovers)
		for _, r := range sh.order {
			rs := RegionStatus{Shard: sn, Name: r.name, Primary: r.primary, Order: -1, FailedOverTo: st.o.Failovers[r.name],
				Clusters: []ClusterStatus{}}
			for k, o := range order {
				if o == r {
					rs.Order = k
				}
			}
			total := 0
			for _, c := range r.clusters {
				if clusterAvailable(c, st, now) {
					total += st.weight(c)
				}
			}
			for _, c := range r.clusters {
				cs := clusterStatus(c, st, now)
				if cs.Available && total > 0 {
					cs.SharePercent = round2(100 * float64(cs.Weight) / float64(total))
				}
				rs.Available = rs.Available || cs.Available
				rs.Clusters = append(rs.Clusters, cs)
			}
			if r.admin != nil {
				rs.Admin = backendStatuses(r.admin, st, now)
			}
			s.Regions = append(s.Regions, rs)
		}
	}
	return s
}

func clusterStatus(c *cluster, st *opState, now time.Time) ClusterStatus {
	rps, er := c.stats.win.rate(now)
	cs := ClusterStatus{Name: c.name, Weight: st.weight(c), TableWeight: c.weight, Channels: c.channels,
		Drained: st.clusterDrained(c.region, c.name), Ejected: c.def.poolOut(now), Available: clusterAvailable(c, st, now),
		CapacityRPS: c.capacity, RPS: round2(rps), ErrorRate: round2(er), Backends: backendStatuses(c.def, st, now)}
	for _, p := range c.pools() {
		cs.Ejections += p.st.ejected.Load()
		for _, b := range p.backends {
			cs.Ejections += b.ejected.Load()
		}
	}
	for _, name := range sortedServiceKeys(c.services) {
		if cs.Services == nil {
			cs.Services = map[string][]BackendStatus{}
		}
		cs.Services[name] = backendStatuses(c.services[name], st, now)
	}
	return cs
}

func backendStatuses(p *pool, st *opState, now time.Time) []BackendStatus {
	out := make([]BackendStatus, 0, len(p.backends))
	for _, b := range p.backends {
		rps, er := b.win.rate(now)
		bs := BackendStatus{URL: b.base, Zone: b.zone, Healthy: b.healthy.Load(), Ejected: b.isEjected(),
			ZoneDrained: st.zoneDrained(b.region, b.zone), Outstanding: b.outstanding.Load(), RPS: round2(rps), ErrorRate: round2(er),
			Requests: b.requests.Load(), Failures: b.failures.Load(), Ejections: b.ejected.Load(), Retries: b.retries.Load()}
		if u := b.ejectedUntil.Load(); u != 0 {
			t := time.Unix(0, u).UTC()
			bs.EjectedUntil = &t
		}
		b.mu.Lock()
		bs.ProbeError = b.lastProbeErr
		b.mu.Unlock()
		out = append(out, bs)
	}
	return out
}

func (e *Edge) handleStatus(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, e.Status())
	return nil
}
