package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// scenario is one fault: what it does (describe), the loads it runs, and run, which
// injects the fault at plan.start, takes the documented operator actions, and removes
// the fault at plan.end (in the order that matters; the runner undoes anything left).
type scenario struct {
	describe string
	loads    func(st State, cfg ChaosConfig) ([]chaosLoad, error)
	run      func(ctx context.Context, r *chaosRun, p faultPlan) error
	settings func(*ChaosSettings)
}

// chaosLoad is one load of a run.
type chaosLoad struct {
	target Target
	cfg    LoadConfig
}

// faultPlan is when the fault starts, when it is to be removed, and when the load
// ends (no step of a procedure starts later than MinChaosPhase before that).
type faultPlan struct {
	start, end, loadEnd time.Time
}

// primaryLoad is the default: one load through the primary region's edge (the lab's
// public URL).
func primaryLoad(st State, cfg ChaosConfig) ([]chaosLoad, error) {
	t, err := TargetFromState(st, "")
	if err != nil {
		return nil, err
	}
	return []chaosLoad{{target: t, cfg: loadConfig(cfg, cfg.Rate, cfg.AdminRate)}}, nil
}

func loadConfig(cfg ChaosConfig, rate, adminRate float64) LoadConfig {
	return LoadConfig{Rate: rate, Duration: cfg.Duration, Mix: cfg.Mix, AdminRate: adminRate, Timeout: cfg.Timeout,
		RunID: cfg.Scenario + "-" + time.Now().UTC().Format("20060102T150405")}
}

func primaryRegion(st State) Region {
	for _, r := range st.Regions {
		if r.Primary {
			return r
		}
	}
	return st.Regions[0]
}

func regionNamed(st State, name string) (Region, bool) {
	for _, r := range st.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// newScenario resolves cfg's scenario against the lab: its zone, cluster or region
// (filling the defaults into cfg), and checks that they exist.
func newScenario(st State, cfg *ChaosConfig) (*scenario, error) {
	if len(st.Regions) == 0 {
		return nil, fmt.Errorf("lab %s has no region", st.Dir)
	}
	prim := primaryRegion(st)
	sc := &scenario{loads: primaryLoad, settings: func(*ChaosSettings) {}}
	switch cfg.Scenario {
	case ScenarioZoneDegraded:
		if cfg.Zone == "" {
			cfg.Zone = prim.Zones[min(1, len(prim.Zones)-1)]
		}
		if !slices.Contains(prim.Zones, cfg.Zone) {
			return nil, fmt.Errorf("zone-degraded: %q is not a zone of the primary region %s (%s)", cfg.Zone, prim.Name,
				strings.Join(prim.Zones, ", "))
		}
		proxies := zoneProxies(st, prim.Name, cfg.Zone)
		sc.describe = fmt.Sprintf("zone %s of %s degraded: %.0f%% of the connections of its %d proxies (into and out of it) time out",
			cfg.Zone, prim.Name, 100*cfg.Toxicity, len(proxies))
		if cfg.DrainAfter > 0 {
			sc.describe += fmt.Sprintf("; the operator drains it on every edge after %v", cfg.DrainAfter)
		} else {
			sc.describe += "; no operator action (the edges' outlier detection is the mitigation)"
		}
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error {
			return runZoneDegraded(ctx, r, p, prim, proxies)
		}
		sc.settings = func(s *ChaosSettings) {
			s.Zone, s.Toxicity, s.DrainAfterS = cfg.Zone, cfg.Toxicity, cfg.DrainAfter.Seconds()
		}
	case ScenarioPrimaryDown:
		name := "pg-primary"
		sc.describe = "the PostgreSQL primary stopped (fast shutdown) for the fault window, then started again"
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error {
			return runDown(ctx, r, p, []string{name}, true)
		}
	case ScenarioReplicaDown:
		reps := procNames(st, func(p Process) bool {
			return p.Kind == KindPostgres && p.Region == prim.Name && p.Name != "pg-primary"
		})
		if len(reps) == 0 {
			return nil, fmt.Errorf("replica-down: the primary region %s has no replica", prim.Name)
		}
		victim := reps[len(reps)-1]
		sc.describe = fmt.Sprintf("PostgreSQL replica %s killed (SIGKILL) for the fault window, then started again", victim)
		if len(reps) == 1 {
			sc.describe += fmt.Sprintf(" — it is the only replica of %s: its login processes have no database to read", prim.Name)
		}
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error {
			return runDown(ctx, r, p, []string{victim}, false)
		}
	case ScenarioBrokerDown:
		nats := procNames(st, func(p Process) bool { return p.Kind == KindNATS })
		sc.describe = fmt.Sprintf("every NATS member (%s) killed (SIGKILL) for the fault window, then started again", strings.Join(nats, ", "))
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error { return runDown(ctx, r, p, nats, false) }
	case ScenarioLoginClusterDown:
		if cfg.Cluster == "" {
			cfg.Cluster = prim.Clusters[0].Name
		}
		procs := procNames(st, func(p Process) bool { return p.Kind == KindLogin && p.Cluster == cfg.Cluster })
		if len(procs) == 0 {
			return nil, fmt.Errorf("login-cluster-down: the lab has no login cluster %q", cfg.Cluster)
		}
		sc.describe = fmt.Sprintf("every process of login cluster %s (%s) killed (SIGKILL) for the fault window, then started again",
			cfg.Cluster, strings.Join(procs, ", "))
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error { return runDown(ctx, r, p, procs, false) }
		sc.settings = func(s *ChaosSettings) { s.Cluster = cfg.Cluster }
	case ScenarioRegionDown:
		if len(st.Regions) < 2 {
			return nil, fmt.Errorf("region-down needs a lab with two regions (%s has one)", st.Name)
		}
		if cfg.Region == "" {
			cfg.Region = st.Regions[len(st.Regions)-1].Name
		}
		lost, ok := regionNamed(st, cfg.Region)
		if !ok || lost.Primary {
			return nil, fmt.Errorf("region-down: %q is not a secondary region of the lab", cfg.Region)
		}
		procs := procNames(st, func(p Process) bool {
			return p.Region == lost.Name && (p.Kind == KindLogin || p.Kind == KindPostgres)
		})
		sc.describe = fmt.Sprintf("region %s lost: its login tier and PostgreSQL replicas (%d processes) killed; load through both regions' edges; "+
			"the operator fails %s over to %s on every edge %v later (pre-scale check), and fails back once it is restored",
			lost.Name, len(procs), lost.Name, prim.Name, cfg.FailoverAfter)
		sc.loads = func(st State, cfg ChaosConfig) ([]chaosLoad, error) { return regionLoads(st, cfg, prim, lost) }
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error {
			return runRegionDown(ctx, r, p, prim, lost, procs)
		}
		sc.settings = func(s *ChaosSettings) { s.Region, s.FailoverAfterS = cfg.Region, cfg.FailoverAfter.Seconds() }
	case ScenarioRollingUpgrade:
		steps := upgradeSteps(st, cfg.RestartEntryEdge)
		sc.describe = fmt.Sprintf("rolling upgrade: %d processes restarted one at a time (SIGTERM, then started again and ready), "+
			"each login cluster drained on every edge while its processes restart", countRestarts(steps))
		sc.run = func(ctx context.Context, r *chaosRun, p faultPlan) error { return runRollingUpgrade(ctx, r, p, steps) }
	default:
		return nil, fmt.Errorf("scenario %q: want one of %s", cfg.Scenario, strings.Join(Scenarios, ", "))
	}
	return sc, nil
}

// runDown kills (or stops) the processes at the fault's start and starts them again,
// all at once, at its end.
func runDown(ctx context.Context, r *chaosRun, p faultPlan, names []string, stop bool) error {
	idx, err := r.killProcs(ctx, names, stop)
	if err != nil {
		return err
	}
	if err := sleepUntil(ctx, p.end); err != nil {
		return err
	}
	return r.restoreNow(ctx, idx...)
}

// runZoneDegraded adds the toxics; with DrainAfter, drains the zone on every edge that
// long after; at the end removes the toxics, waits until the edges see the zone's
// backends healthy again, and undrains.
func runZoneDegraded(ctx context.Context, r *chaosRun, p faultPlan, prim Region, proxies []Proxy) error {
	toxics, err := r.addTimeoutToxics(ctx, proxies, r.cfg.Toxicity)
	if err != nil {
		return err
	}
	drained := -1
	if r.cfg.DrainAfter > 0 {
		if err := sleepUntil(ctx, p.start.Add(r.cfg.DrainAfter)); err != nil {
			return err
		}
		zone := map[string]any{"region": prim.Name, "zone": r.cfg.Zone}
		if err := r.edgeChangeAll(ctx, "drain zone "+r.cfg.Zone, "/v1/drain", zone); err != nil {
			return err
		}
		drained = r.onRestore("undrain zone "+r.cfg.Zone+" on every edge", func(ctx context.Context) error {
			_, err := r.edgeChange(ctx, "/v1/undrain", map[string]any{"region": prim.Name, "zone": r.cfg.Zone})
			return err
		})
	}
	if err := sleepUntil(ctx, p.end); err != nil {
		return err
	}
	if err := r.removeToxics(ctx, toxics); err != nil {
		return err
	}
	if drained >= 0 {
		var clusters []string
		for _, c := range prim.Clusters {
			clusters = append(clusters, c.Name)
		}
		// Best effort: a backend ejected during the fault returns after its ejection.
		_ = r.waitClusters(ctx, prim.Name, clusters)
		return r.restoreNow(ctx, drained)
	}
	return nil
}

// regionLoads are region-down's loads: half the rate through each region's edge (the
// lost region's users and the primary's, each load dialling its region's edge for the
// lab's one public URL, as GeoDNS would), admin traffic through the primary's.
func regionLoads(st State, cfg ChaosConfig, prim, lost Region) ([]chaosLoad, error) {
	var out []chaosLoad
	for i, reg := range []Region{prim, lost} {
		t, err := TargetFromState(st, reg.Name)
		if err != nil {
			return nil, err
		}
		admin := cfg.AdminRate
		if i > 0 {
			admin = -1
		}
		lc := loadConfig(cfg, cfg.Rate/2, admin)
		lc.RunID += "-" + reg.Name
		out = append(out, chaosLoad{target: t, cfg: lc})
	}
	return out, nil
}

// runRegionDown kills the lost region's login tier and replicas; after FailoverAfter
// the operator fails it over to the primary region on every edge (through the
// pre-scale check, never forced); at the end the processes start again, the edges see
// the region's clusters healthy, and the operator fails back.
func runRegionDown(ctx context.Context, r *chaosRun, p faultPlan, prim, lost Region, procs []string) error {
	idx, err := r.killProcs(ctx, procs, false)
	if err != nil {
		return err
	}
	if err := sleepUntil(ctx, p.start.Add(r.cfg.FailoverAfter)); err != nil {
		return err
	}
	failback := -1
	if r.edgeChangeAll(ctx, "failover "+lost.Name+" → "+prim.Name, "/v1/failover", map[string]any{"from": lost.Name, "to": prim.Name}) == nil {
		failback = r.onRestore("failback "+lost.Name+" on every edge", func(ctx context.Context) error {
			_, err := r.edgeChange(ctx, "/v1/failback", map[string]any{"from": lost.Name})
			return err
		})
	}
	if err := sleepUntil(ctx, p.end); err != nil {
		return err
	}
	if err := r.restoreNow(ctx, idx...); err != nil {
		return err
	}
	var clusters []string
	for _, c := range lost.Clusters {
		clusters = append(clusters, c.Name)
	}
	if err := r.waitClusters(ctx, lost.Name, clusters); err != nil {
		return err
	}
	if failback >= 0 {
		return r.restoreNow(ctx, failback)
	}
	return nil
}

// upgradeStep is one step of the rolling upgrade: a login cluster (drained, its
// processes restarted one at a time, undrained) or one other process.
type upgradeStep struct {
	region, cluster string   // a login cluster step
	procs           []string // its processes, or the one process of the step
	kind            string
}

// upgradeSteps is the documented order: every login cluster (primary region first),
// the workers, the admin processes, the NATS members, then the edges (but the one the
// load enters through, unless asked). PostgreSQL is not a nines role and is left alone.
func upgradeSteps(st State, entryEdge bool) []upgradeStep {
	var steps []upgradeStep
	for _, reg := range st.Regions {
		for _, c := range reg.Clusters {
			procs := procNames(st, func(p Process) bool { return p.Kind == KindLogin && p.Cluster == c.Name })
			steps = append(steps, upgradeStep{region: reg.Name, cluster: c.Name, procs: procs, kind: KindLogin})
		}
	}
	prim := primaryRegion(st)
	for _, kind := range []string{KindWorker, KindAdmin, KindNATS, KindEdge} {
		for _, name := range procNames(st, func(p Process) bool { return p.Kind == kind }) {
			if kind == KindEdge && name == "edge-"+prim.Name && !entryEdge {
				continue
			}
			steps = append(steps, upgradeStep{procs: []string{name}, kind: kind})
		}
	}
	return steps
}

func countRestarts(steps []upgradeStep) int {
	n := 0
	for _, s := range steps {
		n += len(s.procs)
	}
	return n
}

// natsSettle is how long a restarted NATS member is given to catch up on its streams
// before the next member restarts (measured: current 0.6–2.1 s after its restart).
const natsSettle = 3 * time.Second

// runRollingUpgrade runs the steps in order. No step starts less than MinChaosPhase
// before the load ends: the rest are recorded as skipped (a failed action).
func runRollingUpgrade(ctx context.Context, r *chaosRun, p faultPlan, steps []upgradeStep) error {
	hardStop := p.loadEnd.Add(-MinChaosPhase)
	if !r.cfg.RestartEntryEdge {
		r.note("edge-%s (the load's entry point) is not restarted: the lab has no balancer in front of an edge", primaryRegion(r.st).Name)
	}
	for i, s := range steps {
		if time.Now().After(hardStop) {
			var left []string
			for _, s := range steps[i:] {
				left = append(left, s.procs...)
			}
			return r.act(ctx, "rolling upgrade: out of time", func(context.Context) (string, error) {
				return "", fmt.Errorf("not restarted (give a longer --duration): %s", strings.Join(left, ", "))
			})
		}
		if s.cluster == "" {
			if err := r.restartProc(ctx, s.procs[0]); err != nil {
				return err
			}
			if s.kind == KindNATS {
				_ = sleepUntil(ctx, time.Now().Add(natsSettle))
			}
			continue
		}
		target := map[string]any{"region": s.region, "cluster": s.cluster}
		if err := r.edgeChangeAll(ctx, "drain cluster "+s.cluster, "/v1/drain", target); err != nil {
			return err
		}
		undrain := r.onRestore("undrain cluster "+s.cluster+" on every edge", func(ctx context.Context) error {
			_, err := r.edgeChange(ctx, "/v1/undrain", map[string]any{"region": s.region, "cluster": s.cluster})
			return err
		})
		// Requests already sent to the cluster finish (the flows' own steps are short).
		_ = sleepUntil(ctx, time.Now().Add(2*time.Second))
		for _, name := range s.procs {
			if err := r.restartProc(ctx, name); err != nil {
				return err
			}
		}
		if err := r.waitClusters(ctx, s.region, []string{s.cluster}); err != nil {
			return err
		}
		if err := r.restoreNow(ctx, undrain); err != nil {
			return err
		}
	}
	return nil
}
