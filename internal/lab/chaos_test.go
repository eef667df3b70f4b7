package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stateFor is the State a lab of the example file would have, without starting it.
func stateFor(t *testing.T, file string) State {
	t.Helper()
	p := planFor(t, file)
	s := &supervisor{topo: p.topo, p: p}
	for _, c := range p.comps {
		c.child = &child{spec: childSpec{name: c.Name}}
	}
	st := s.state()
	st.Dir, st.Status = t.TempDir(), StatusReady
	st.Tenant, st.AdminToken = p.topo.Tenant, "admin-token"
	st.Client = Client{ID: "lab-load", Secret: "secret", RedirectURI: "http://127.0.0.1:9/callback"}
	st.Users = []User{{Username: "user-01", Password: "pw"}}
	return st
}

func TestParseSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    Split
		wantErr bool
	}{
		{"1:1:1", Split{1, 1, 1}, false},
		{"1:2:1", Split{1, 2, 1}, false},
		{" 0.5 : 1 : 2 ", Split{0.5, 1, 2}, false},
		{"1:1", Split{}, true},
		{"1:0:1", Split{}, true},
		{"1:-1:1", Split{}, true},
		{"a:b:c", Split{}, true},
		{"1:1:1:1", Split{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSplit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseSplit(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSplitPhases(t *testing.T) {
	tests := []struct {
		name                       string
		split                      Split
		d                          time.Duration
		wantBefore, wantFault, end time.Duration
	}{
		{"thirds of 2m", DefaultSplit, 2 * time.Minute, 40 * time.Second, 40 * time.Second, 40 * time.Second},
		{"1:2:1 of 5m", Split{1, 2, 1}, 5 * time.Minute, 75 * time.Second, 150 * time.Second, 75 * time.Second},
		{"thirds of 100s", DefaultSplit, 100 * time.Second, 33333 * time.Millisecond, 33333 * time.Millisecond, 33334 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, f, a := tt.split.phases(tt.d)
			if b != tt.wantBefore || f != tt.wantFault || a != tt.end || b+f+a != tt.d {
				t.Errorf("phases = %v %v %v, want %v %v %v summing to %v", b, f, a, tt.wantBefore, tt.wantFault, tt.end, tt.d)
			}
		})
	}
}

func TestChaosConfigValidate(t *testing.T) {
	st := stateFor(t, "ci.yaml")
	tests := []struct {
		name string
		cfg  ChaosConfig
		want string // "" for valid
	}{
		{"defaults", ChaosConfig{Scenario: ScenarioBrokerDown}, ""},
		{"every scenario's name", ChaosConfig{Scenario: ScenarioRollingUpgrade, Duration: 30 * time.Second}, ""},
		{"unknown scenario", ChaosConfig{Scenario: "meteor"}, "meteor"},
		{"phases too short", ChaosConfig{Scenario: ScenarioBrokerDown, Duration: 29 * time.Second}, "at least 10s"},
		{"fault too short by the split", ChaosConfig{Scenario: ScenarioBrokerDown, Duration: time.Minute, Split: Split{4, 1, 4}}, "at least 10s"},
		{"toxicity above 1", ChaosConfig{Scenario: ScenarioZoneDegraded, Toxicity: 1.5}, "toxicity"},
		{"negative drain", ChaosConfig{Scenario: ScenarioZoneDegraded, DrainAfter: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.withDefaults(st).validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestScenarioTargets: each scenario picks what the README says it does on the default
// topology, and refuses what the lab does not have.
func TestScenarioTargets(t *testing.T) {
	st := stateFor(t, "topology.yaml")

	t.Run("zone-degraded: every proxy into or out of the primary region's second zone", func(t *testing.T) {
		cfg := ChaosConfig{Scenario: ScenarioZoneDegraded}.withDefaults(st)
		if _, err := newScenario(st, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Zone != "euw-b" {
			t.Fatalf("zone %q, want euw-b", cfg.Zone)
		}
		ps := zoneProxies(st, "eu-west", "euw-b")
		var into, from int
		has := map[string]bool{}
		for _, p := range ps {
			has[p.Name] = true
			switch {
			case p.Zone == "euw-b" && p.Region == "eu-west":
				into++
			case p.FromZone == "euw-b" && p.FromRegion == "eu-west":
				from++
			default:
				t.Errorf("%s is neither into nor out of euw-b: %+v", p.Name, p)
			}
		}
		for _, want := range []string{"edge-eu-west.login-a-euw-b", "edge-us-east.login-b-euw-b", "login-euw-b.pg-eu-west-1",
			"login-euw-b.nats-1", "login-euw-a.nats-2", "login-use-a.nats-2", "worker-euw-a.nats-2"} {
			if !has[want] {
				t.Errorf("the degraded zone lacks proxy %s", want)
			}
		}
		if has["edge-eu-west.login-a-euw-a"] || has["login-euw-a.pg-eu-west-1"] {
			t.Error("the degraded zone includes proxies of another zone")
		}
		if into == 0 || from == 0 {
			t.Errorf("%d proxies into the zone, %d out of it", into, from)
		}
		for _, p := range st.Proxies {
			if (p.Zone == "euw-b" || p.FromZone == "euw-b") && !has[p.Name] {
				t.Errorf("proxy %s touches euw-b but is not degraded", p.Name)
			}
		}
		bad := ChaosConfig{Scenario: ScenarioZoneDegraded, Zone: "use-a"}.withDefaults(st)
		if _, err := newScenario(st, &bad); err == nil {
			t.Error("a zone of the secondary region was accepted")
		}
	})

	t.Run("login-cluster-down: the primary region's first cluster", func(t *testing.T) {
		cfg := ChaosConfig{Scenario: ScenarioLoginClusterDown}.withDefaults(st)
		sc, err := newScenario(st, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Cluster != "login-a" || !strings.Contains(sc.describe, "login-a-euw-a, login-a-euw-b, login-a-euw-c") {
			t.Errorf("cluster %q: %s", cfg.Cluster, sc.describe)
		}
		bad := ChaosConfig{Scenario: ScenarioLoginClusterDown, Cluster: "login-z"}.withDefaults(st)
		if _, err := newScenario(st, &bad); err == nil {
			t.Error("an unknown cluster was accepted")
		}
	})

	t.Run("region-down: the secondary region, loaded through both edges", func(t *testing.T) {
		cfg := ChaosConfig{Scenario: ScenarioRegionDown, Rate: 30, AdminRate: 2}.withDefaults(st)
		sc, err := newScenario(st, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Region != "us-east" || !strings.Contains(sc.describe, "(7 processes)") {
			t.Errorf("region %q: %s", cfg.Region, sc.describe)
		}
		loads, err := sc.loads(st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(loads) != 2 || loads[0].cfg.Rate != 15 || loads[1].cfg.Rate != 15 || loads[0].cfg.AdminRate != 2 || loads[1].cfg.AdminRate >= 0 {
			t.Fatalf("loads: %+v", loads)
		}
		// One issuer; each load dials its own region's edge, admin at the primary's.
		prim, lost := st.Regions[0], st.Regions[1]
		for i, reg := range []Region{prim, lost} {
			tg := loads[i].target
			if tg.Issuer != prim.Issuer || "http://"+tg.Dial != reg.EdgeURL || tg.AdminURL != prim.EdgeURL {
				t.Errorf("load %d: issuer %q dialled at %q, admin %q; want issuer %q dialled at %s's edge %s, admin %s",
					i, tg.Issuer, tg.Dial, tg.AdminURL, prim.Issuer, reg.Name, reg.EdgeURL, prim.EdgeURL)
			}
		}
		bad := ChaosConfig{Scenario: ScenarioRegionDown, Region: "eu-west"}.withDefaults(st)
		if _, err := newScenario(st, &bad); err == nil {
			t.Error("region-down of the primary region was accepted")
		}
		one := stateFor(t, "ci.yaml")
		c1 := ChaosConfig{Scenario: ScenarioRegionDown}.withDefaults(one)
		if _, err := newScenario(one, &c1); err == nil {
			t.Error("region-down on a one-region lab was accepted")
		}
	})

	t.Run("rolling-upgrade: clusters, workers, admin, NATS, edges but the entry edge", func(t *testing.T) {
		steps := upgradeSteps(st, false)
		var order []string
		for _, s := range steps {
			if s.cluster != "" {
				order = append(order, "cluster "+s.cluster)
			} else {
				order = append(order, s.procs...)
			}
		}
		want := []string{"cluster login-a", "cluster login-b", "cluster login-c", "cluster login-d", "worker-1", "admin-1",
			"nats-1", "nats-2", "nats-3", "edge-us-east"}
		if !slices.Equal(order, want) {
			t.Errorf("steps %v, want %v", order, want)
		}
		if n := countRestarts(steps); n != 18 {
			t.Errorf("%d restarts, want 18 (every nines process but the entry edge)", n)
		}
		if n := countRestarts(upgradeSteps(st, true)); n != 19 {
			t.Errorf("with the entry edge: %d restarts, want 19", n)
		}
	})
}

func TestMergeResults(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Result{Config: LoadConfig{Rate: 10, AdminRate: 1}, Start: t0.Add(time.Second), End: t0.Add(60 * time.Second),
		WarmupStart: t0, Users: []string{"u1", "u2"}, Scheduled: 600, AdminScheduled: 60,
		Outcomes: []Outcome{{Flow: FlowPassword, OK: true}}, Commands: IssuedCommands{Issued: 5, Uncertain: 1}}
	b := &Result{Config: LoadConfig{Rate: 10, AdminRate: -1}, Start: t0.Add(900 * time.Millisecond), End: t0.Add(61 * time.Second),
		WarmupStart: t0.Add(100 * time.Millisecond), Users: []string{"u2", "u3"}, Scheduled: 600,
		Outcomes: []Outcome{{Flow: FlowSSO}, {Flow: FlowRefresh, OK: true}}, Commands: IssuedCommands{Issued: 7}}
	m, err := mergeResults([]*Result{a, b}, []error{nil, nil})
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Rate != 20 || m.Config.AdminRate != 1 || !m.Start.Equal(b.Start) || !m.End.Equal(b.End) || !m.WarmupStart.Equal(t0) ||
		len(m.Outcomes) != 3 || m.Scheduled != 1200 || m.AdminScheduled != 60 || m.Commands != (IssuedCommands{Issued: 12, Uncertain: 1}) ||
		!slices.Equal(m.Users, []string{"u1", "u2", "u3"}) {
		t.Errorf("merged: %+v", m)
	}
	if len(a.Outcomes) != 1 {
		t.Error("merging changed an input")
	}
	if _, err := mergeResults([]*Result{a, nil}, []error{nil, errors.New("warm-up failed")}); err == nil {
		t.Error("a failed load was merged")
	}
}

// TestRestores: every undo runs exactly once — the ones a scenario ran itself are not
// run again by the final restore, and those it did not run are.
func TestRestores(t *testing.T) {
	r := &chaosRun{log: &strings.Builder{}, t0: time.Now()}
	var runs [3]atomic.Int32
	for i := range runs {
		r.onRestore("undo "+string(rune('a'+i)), func(context.Context) error {
			runs[i].Add(1)
			if i == 2 {
				return errors.New("refused")
			}
			return nil
		})
	}
	if err := r.restoreNow(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	r.restoreAll(t.Context())
	r.restoreAll(t.Context())
	for i := range runs {
		if n := runs[i].Load(); n != 1 {
			t.Errorf("undo %d ran %d times", i, n)
		}
	}
	if len(r.actions) != 3 || !slices.Equal(r.failed, []string{"undo c"}) {
		t.Errorf("actions %+v, failed %v", r.actions, r.failed)
	}
}

// TestCountCommandsWindow: the command count reads the events from the warm-up's start
// on, not before — two runs back to back (lab chaos after lab chaos) must not count the
// previous run's last sign-ins as this run's (they showed up as duplicates).
func TestCountCommandsWindow(t *testing.T) {
	warm := time.Now().Add(-time.Minute).UTC()
	events := []struct {
		id string
		at time.Time
	}{
		{"previous-run", warm.Add(-300 * time.Millisecond)}, // the last sign-in of the run before
		{"c1", warm.Add(50 * time.Millisecond)},             // this run's warm-up
		{"c2", warm.Add(30 * time.Second)},
		{"c3", warm.Add(59 * time.Second)},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/v1/tenants/lab/users", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"items":[{"id":"u1","username":%q}]}`, r.URL.Query().Get("username"))
	})
	mux.HandleFunc("GET /admin/v1/tenants/lab/events", func(w http.ResponseWriter, r *http.Request) {
		since, err1 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("since"))
		until, err2 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("until"))
		if err1 != nil || err2 != nil {
			http.Error(w, "bad window", http.StatusBadRequest)
			return
		}
		var items []string
		for _, e := range events {
			if !e.at.Before(since) && e.at.Before(until) {
				items = append(items, fmt.Sprintf(`{"id":%q}`, e.id))
			}
		}
		fmt.Fprintf(w, `{"items":[%s]}`, strings.Join(items, ","))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tgt := Target{AdminURL: srv.URL, AdminToken: "t", Tenant: "lab"}
	res := &Result{WarmupStart: warm, End: warm.Add(60 * time.Second), Users: []string{"user-01"},
		Commands: IssuedCommands{Issued: 3}}
	c, err := CountCommands(t.Context(), tgt, res)
	if err != nil {
		t.Fatal(err)
	}
	if c.Applied != 3 || c.Duplicated != 0 || c.Lost != 0 {
		t.Errorf("count %+v, want 3 applied, none duplicated or lost", c)
	}
}

// TestLineWriter: loads that share the outcomes file never interleave inside a line,
// however their recorders chunk their output.
func TestLineWriter(t *testing.T) {
	var sink strings.Builder
	dst := &lockedWriter{w: &sink}
	a, b := &lineWriter{dst: dst}, &lineWriter{dst: dst}
	for _, w := range []struct {
		lw *lineWriter
		s  string
	}{{a, `{"a":1`}, {b, `{"b":1}` + "\n" + `{"b":`}, {a, `}` + "\n"}, {b, `2}` + "\n"}} {
		if n, err := w.lw.Write([]byte(w.s)); err != nil || n != len(w.s) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := `{"b":1}` + "\n" + `{"a":1}` + "\n" + `{"b":2}` + "\n"
	if sink.String() != want {
		t.Errorf("got %q, want %q", sink.String(), want)
	}
}
