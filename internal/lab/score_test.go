package lab

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// synth builds a synthetic run: rate flows per second for seconds seconds, every one a
// success due at an even spacing, its latency given by lat (ms) from its index; then
// fails marks the ones fail(i, second) says.
type synth struct {
	t0      time.Time
	rate    int
	seconds int
	lat     func(i int) float64
	fail    func(i, sec int) bool
	flow    func(i int) Flow
	extra   []Outcome
}

func (s synth) result() *Result {
	res := &Result{Start: s.t0, WarmupStart: s.t0.Add(-time.Second), End: s.t0.Add(time.Duration(s.seconds) * time.Second),
		Config: LoadConfig{Rate: float64(s.rate), Duration: time.Duration(s.seconds) * time.Second, Mix: DefaultMix(), Timeout: DefaultTimeout}}
	for i := range s.rate * s.seconds {
		sec := i / s.rate
		o := Outcome{Seq: i, Flow: FlowClientCredentials, Start: s.t0.Add(time.Duration(i) * time.Second / time.Duration(s.rate)), OK: true}
		if s.flow != nil {
			o.Flow = s.flow(i)
		}
		o.Latency = 10 * time.Millisecond
		if s.lat != nil {
			o.Latency = time.Duration(s.lat(i) * float64(time.Millisecond))
		}
		if s.fail != nil && s.fail(i, sec) {
			o.OK, o.Class, o.Status = false, ClassHTTP5xx, 503
		}
		res.Outcomes = append(res.Outcomes, o)
	}
	res.Outcomes = append(res.Outcomes, s.extra...)
	res.Scheduled = len(res.Outcomes)
	return res
}

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func fault(from, to float64) FaultWindow { return FaultWindow{Start: at(from), End: at(to)} }

func allApplied(n int) *Commands {
	return &Commands{Measured: true, Issued: n, Applied: n, Listed: n}
}

func TestScoreWindowAndTargets(t *testing.T) {
	// 10 flows a second for 60 s; the fault is in force from 20 s to 40 s.
	perSecondFailures := func(m map[int]int) func(i, sec int) bool {
		return func(i, sec int) bool { return i%10 < m[sec] }
	}
	tests := []struct {
		name        string
		scenario    string
		s           synth
		fault       FaultWindow
		cmds        *Commands
		failed      int
		window      [2]float64 // start, end (s)
		windowRate  float64
		ttm         *float64 // nil: null
		recovered   bool
		periods     int
		wantPass    map[string]bool // target name → pass
		overallPass bool
	}{
		{
			name: "three bad seconds then healthy", scenario: ScenarioZoneDegraded,
			s:     synth{rate: 10, seconds: 60, fail: perSecondFailures(map[int]int{20: 3, 21: 3, 22: 3})},
			fault: fault(20, 40), cmds: allApplied(50),
			failed: 9, window: [2]float64{20, 23}, windowRate: 9.0 / 30, ttm: ptr(3), recovered: true, periods: 1,
			wantPass: map[string]bool{"end-user failure rate": false, "time to mitigate": true, "commands lost": true, "commands duplicated": true},
		},
		{
			name: "no failure at all", scenario: ScenarioZoneDegraded,
			s:     synth{rate: 10, seconds: 60},
			fault: fault(20, 40), cmds: allApplied(50),
			failed: 0, window: [2]float64{20, 20}, windowRate: 0, ttm: ptr(0), recovered: true, periods: 0,
			wantPass:    map[string]bool{"end-user failure rate": true, "time to mitigate": true},
			overallPass: true,
		},
		{
			name: "late onset counts from the fault's start", scenario: ScenarioZoneDegraded,
			s:     synth{rate: 10, seconds: 60, fail: perSecondFailures(map[int]int{25: 1})},
			fault: fault(20, 40), cmds: allApplied(50),
			failed: 1, window: [2]float64{20, 26}, windowRate: 1.0 / 60, ttm: ptr(6), recovered: true, periods: 1,
			wantPass: map[string]bool{"end-user failure rate": false, "time to mitigate": true},
		},
		{
			name: "slow mitigation fails the target", scenario: ScenarioZoneDegraded,
			s:     synth{rate: 10, seconds: 60, fail: func(i, sec int) bool { return sec >= 20 && sec < 32 && i%10 == 0 }},
			fault: fault(20, 40), cmds: allApplied(50),
			failed: 12, window: [2]float64{20, 32}, windowRate: 12.0 / 120, ttm: ptr(12), recovered: true, periods: 1,
			wantPass: map[string]bool{"time to mitigate": false},
		},
		{
			name: "never recovered", scenario: ScenarioZoneDegraded,
			s:     synth{rate: 10, seconds: 60, fail: func(i, sec int) bool { return sec >= 20 && i%10 == 0 }},
			fault: FaultWindow{Start: at(20)}, cmds: allApplied(50),
			failed: 40, window: [2]float64{20, 60}, windowRate: 40.0 / 400, ttm: nil, recovered: false, periods: 1,
			wantPass: map[string]bool{"time to mitigate": false},
		},
		{
			name: "a recurrence within the fault joins the window; a late stray failure does not", scenario: ScenarioLoginClusterDown,
			s: synth{rate: 10, seconds: 60, fail: perSecondFailures(map[int]int{20: 1, 21: 1, 30: 2, 55: 1})},
			// periods [20,22) and [30,31); 55 s is after the fault's end + N (40 + 5)
			fault: fault(20, 40), cmds: allApplied(50),
			failed: 5, window: [2]float64{20, 31}, windowRate: 4.0 / 110, ttm: ptr(2), recovered: true, periods: 2,
			wantPass: map[string]bool{"failure rate in the impact window": false},
		},
		{
			name: "a gap shorter than N healthy seconds does not end a period", scenario: ScenarioLoginClusterDown,
			s:     synth{rate: 10, seconds: 60, fail: perSecondFailures(map[int]int{20: 1, 23: 1})},
			fault: fault(20, 40), cmds: allApplied(50),
			failed: 2, window: [2]float64{20, 24}, windowRate: 2.0 / 40, ttm: ptr(4), recovered: true, periods: 1,
		},
		{
			name: "a flow in flight at the fault's start that failed opens the window early", scenario: ScenarioLoginClusterDown,
			s: synth{rate: 10, seconds: 60, extra: []Outcome{{Seq: 999, Flow: FlowPassword, Start: at(19.5),
				Latency: 1500 * time.Millisecond, Class: ClassTimeout}}},
			fault: fault(20, 40), cmds: allApplied(50),
			// second 19 holds 11 flows, one failed; the period is [19, 20), the window [19.5, 20)
			failed: 1, window: [2]float64{19.5, 20}, windowRate: 1.0 / 6, ttm: ptr(0), recovered: true, periods: 1,
		},
		{
			name: "primary down: only sign-ins count", scenario: ScenarioPrimaryDown,
			s: synth{rate: 10, seconds: 30, flow: func(i int) Flow { return []Flow{FlowPassword, FlowRefresh}[i%2] },
				fail: func(i, sec int) bool { return sec == 12 && i%10 == 1 }}, // one refresh fails
			fault: fault(10, 20), cmds: allApplied(50),
			failed: 1, window: [2]float64{10, 13}, windowRate: 1.0 / 30, ttm: ptr(3), recovered: true, periods: 1,
			wantPass:    map[string]bool{"failed sign-ins": true},
			overallPass: true,
		},
		{
			name: "primary down: a failed sign-in fails it", scenario: ScenarioPrimaryDown,
			s: synth{rate: 10, seconds: 30, flow: func(i int) Flow { return []Flow{FlowPassword, FlowSSO}[i%2] },
				fail: func(i, sec int) bool { return sec == 12 && i%10 == 1 }},
			fault: fault(10, 20), cmds: allApplied(50),
			failed: 1, window: [2]float64{10, 13}, windowRate: 1.0 / 30, ttm: ptr(3), recovered: true, periods: 1,
			wantPass: map[string]bool{"failed sign-ins": false},
		},
		{
			name: "broker down: a lost command fails it", scenario: ScenarioBrokerDown,
			s:     synth{rate: 10, seconds: 30},
			fault: fault(10, 20), cmds: (&Commands{Measured: true, Issued: 50, Applied: 49, Listed: 49}),
			failed: 0, window: [2]float64{10, 10}, ttm: ptr(0), recovered: true,
			wantPass: map[string]bool{"commands lost": false, "commands duplicated": true},
		},
		{
			name: "commands not measured fail the command checks", scenario: ScenarioBrokerDown,
			s:     synth{rate: 10, seconds: 30},
			fault: fault(10, 20), cmds: nil,
			failed: 0, window: [2]float64{10, 10}, ttm: ptr(0), recovered: true,
			wantPass: map[string]bool{"commands lost": false, "commands duplicated": false},
		},
		{
			name: "rolling upgrade: one admin failure fails it", scenario: ScenarioRollingUpgrade,
			s: synth{rate: 10, seconds: 30, extra: []Outcome{{Seq: 0, Flow: FlowAdminList, Start: at(15), Latency: time.Millisecond,
				Class: ClassHTTP5xx, Status: 502}}},
			fault: fault(10, 20), cmds: allApplied(50),
			failed: 0, window: [2]float64{10, 10}, ttm: ptr(0), recovered: true,
			wantPass: map[string]bool{"failed end-user requests": true, "failed admin requests": false},
		},
		{
			name: "no fault: the window starts at the first unhealthy second", scenario: "",
			s:      synth{rate: 10, seconds: 30, fail: perSecondFailures(map[int]int{7: 2})},
			cmds:   allApplied(50),
			failed: 2, window: [2]float64{7, 8}, windowRate: 2.0 / 10, ttm: nil, recovered: true, periods: 1,
			overallPass: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.t0 = t0
			res := tt.s.result()
			card := Score(res, ScoreConfig{Scenario: tt.scenario, Fault: tt.fault, Commands: tt.cmds})
			if card.EndUserFailed != tt.failed {
				t.Errorf("end_user_failed = %d, want %d", card.EndUserFailed, tt.failed)
			}
			if want := float64(tt.failed) / float64(card.EndUserRequests); !near(card.EndUserFailureRate, want) {
				t.Errorf("end_user_failure_rate = %v, want %v", card.EndUserFailureRate, want)
			}
			if !near(card.ImpactWindow.StartS, tt.window[0]) || !near(card.ImpactWindow.EndS, tt.window[1]) {
				t.Errorf("impact window %.2f → %.2f s, want %.2f → %.2f", card.ImpactWindow.StartS, card.ImpactWindow.EndS, tt.window[0], tt.window[1])
			}
			if !near(card.ImpactWindowS, tt.window[1]-tt.window[0]) {
				t.Errorf("impact_window_s = %v, want %v", card.ImpactWindowS, tt.window[1]-tt.window[0])
			}
			if !near(card.ImpactWindowFailureRate, tt.windowRate) {
				t.Errorf("impact_window_failure_rate = %v, want %v (%d of %d)", card.ImpactWindowFailureRate, tt.windowRate,
					card.ImpactWindow.Failed, card.ImpactWindow.Requests)
			}
			switch {
			case tt.ttm == nil && card.TimeToMitigateS != nil:
				t.Errorf("time_to_mitigate_s = %v, want null", *card.TimeToMitigateS)
			case tt.ttm != nil && (card.TimeToMitigateS == nil || !near(*card.TimeToMitigateS, *tt.ttm)):
				t.Errorf("time_to_mitigate_s = %v, want %v", fmtPtr(card.TimeToMitigateS), *tt.ttm)
			}
			if card.ImpactWindow.Recovered != tt.recovered {
				t.Errorf("recovered = %v, want %v", card.ImpactWindow.Recovered, tt.recovered)
			}
			if len(card.ImpactPeriods) != tt.periods {
				t.Errorf("%d impact periods %+v, want %d", len(card.ImpactPeriods), card.ImpactPeriods, tt.periods)
			}
			got := map[string]bool{}
			for _, c := range card.Targets {
				got[c.Name] = c.Pass
			}
			for name, pass := range tt.wantPass {
				if p, ok := got[name]; !ok || p != pass {
					t.Errorf("target %q: pass=%v (present %v), want pass=%v; targets %+v", name, p, ok, pass, card.Targets)
				}
			}
			if tt.overallPass != card.Pass {
				t.Errorf("pass = %v, want %v; targets %+v", card.Pass, tt.overallPass, card.Targets)
			}
		})
	}
}

func TestScoreCountsAndPercentiles(t *testing.T) {
	// 10 flows a second for 30 s; flow i takes i+1 ms before the fault (0–9 s), 1000+i
	// ms during it (10–19 s), and 5 ms after. One overload (not in the percentiles)
	// and two admin requests, one failed.
	s := synth{t0: t0, rate: 10, seconds: 30, lat: func(i int) float64 {
		switch {
		case i < 100:
			return float64(i + 1)
		case i < 200:
			return float64(1000 + i)
		}
		return 5
	}, extra: []Outcome{
		{Seq: 1000, Flow: FlowPassword, Start: at(15), Class: ClassOverload},
		{Seq: 0, Flow: FlowAdminList, Start: at(1), OK: true, Latency: time.Millisecond},
		{Seq: 1, Flow: FlowAdminCreate, Start: at(12), Latency: time.Millisecond, Class: ClassHTTP5xx},
	}}
	card := Score(s.result(), ScoreConfig{Scenario: ScenarioLoginClusterDown, Fault: fault(10, 20),
		Commands: &Commands{Measured: true, Issued: 7, Uncertain: 1, Applied: 7, Listed: 8}})
	if card.EndUserRequests != 301 || card.EndUserFailed != 1 || card.Failures[ClassOverload] != 1 {
		t.Errorf("end-user %d failed %d (classes %v), want 301, 1, 1 overload", card.EndUserRequests, card.EndUserFailed, card.Failures)
	}
	if card.AdminRequests != 2 || card.AdminFailed != 1 || card.AdminFailureRate != 0.5 {
		t.Errorf("admin %d failed %d rate %v, want 2, 1, 0.5", card.AdminRequests, card.AdminFailed, card.AdminFailureRate)
	}
	// Nearest rank: before 1..100 ms → p50 50, p99 99; during 1100..1199 → 1149 and
	// 1198; after all 5.
	for _, c := range []struct {
		name string
		got  *float64
		want float64
	}{
		{"p50 before", card.P50ms.Before, 50}, {"p99 before", card.P99ms.Before, 99},
		{"p50 during", card.P50ms.During, 1149}, {"p99 during", card.P99ms.During, 1198},
		{"p50 after", card.P50ms.After, 5}, {"p99 after", card.P99ms.After, 5},
	} {
		if c.got == nil || !near(*c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, fmtPtr(c.got), c.want)
		}
	}
	// all: 100 values 1..100, 100 values 1100..1199, 100 values of 5 → sorted, rank
	// 150 is 1..100 with 5 repeated 101 times: ranks 1–4 are 1–4, 5–105 are 5, 106–200
	// are 6–100, so rank 150 is 50; rank 297 is 1100+96 = 1196.
	if card.P50ms.All == nil || *card.P50ms.All != 50 || card.P99ms.All == nil || *card.P99ms.All != 1196 {
		t.Errorf("all: p50 %v p99 %v, want 50 and 1196", fmtPtr(card.P50ms.All), fmtPtr(card.P99ms.All))
	}
	if card.CommandsIssued != 7 || card.CommandsApplied != 7 || card.CommandsUncertain != 1 {
		t.Errorf("commands %d/%d/%d", card.CommandsIssued, card.CommandsApplied, card.CommandsUncertain)
	}
	if len(card.Seconds) != 30 || card.Seconds[15].Requests != 11 || card.Seconds[15].Failed != 1 || card.Seconds[12].AdminFailed != 1 {
		t.Errorf("seconds: %d, [15] %+v, [12] %+v", len(card.Seconds), card.Seconds[15], card.Seconds[12])
	}
	// A second's percentiles: second 3 holds flows 30..39, 31..40 ms.
	if sec := card.Seconds[3]; sec.P50ms != 35 || sec.P99ms != 40 {
		t.Errorf("second 3: p50 %v p99 %v, want 35 and 40", sec.P50ms, sec.P99ms)
	}

	// The JSON has every field the issue names.
	b, err := json.Marshal(card)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "duration_s", "end_user_requests", "end_user_failed", "end_user_failure_rate",
		"impact_window_s", "impact_window_failure_rate", "time_to_mitigate_s", "admin_failure_rate", "commands_issued",
		"commands_applied", "commands_lost", "commands_duplicated", "p50_ms", "p99_ms", "targets", "seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the JSON has no %q", k)
		}
	}
	for _, k := range []string{"p50_ms", "p99_ms"} {
		ph, _ := m[k].(map[string]any)
		for _, p := range []string{"before", "during", "after"} {
			if _, ok := ph[p].(float64); !ok {
				t.Errorf("%s.%s = %v, want a number", k, p, ph[p])
			}
		}
	}
	// It round-trips through a file, and the table names every target.
	path := filepath.Join(t.TempDir(), "score.json")
	if err := card.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadScorecard(path)
	if err != nil || back.EndUserRequests != card.EndUserRequests || len(back.Targets) != len(card.Targets) {
		t.Errorf("read back: %v, %d requests", err, back.EndUserRequests)
	}
	var tab bytes.Buffer
	if err := card.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SCORECARD", "login-cluster-down", "failure rate in the impact window", "commands lost", "overall"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("the table has no %q:\n%s", want, tab.String())
		}
	}
}

func TestCommandsCompare(t *testing.T) {
	tests := []struct {
		name      string
		in        Commands
		lost, dup int
	}{
		{"exact", Commands{Issued: 10, Applied: 10, Listed: 10}, 0, 0},
		{"one lost", Commands{Issued: 10, Applied: 9, Listed: 9}, 1, 0},
		{"one listed twice", Commands{Issued: 10, Applied: 10, Listed: 11}, 0, 1},
		{"more events than sign-ins", Commands{Issued: 10, Applied: 12, Listed: 12}, 0, 2},
		{"uncertain sign-ins may have been applied", Commands{Issued: 10, Uncertain: 2, Applied: 12, Listed: 12}, 0, 0},
		{"beyond the uncertain ones", Commands{Issued: 10, Uncertain: 1, Applied: 12, Listed: 13}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in.compare()
			if c.Lost != tt.lost || c.Duplicated != tt.dup {
				t.Errorf("lost %d duplicated %d, want %d and %d", c.Lost, c.Duplicated, tt.lost, tt.dup)
			}
		})
	}
}

func TestFlowPickerKeepsTheMix(t *testing.T) {
	m := Mix{FlowPassword: 1, FlowSSO: 2, FlowUserinfo: 7}
	p := newFlowPicker(m)
	got := map[Flow]int{}
	for range 10 {
		got[p.next()]++ // one window of sum(weights) picks holds each flow its weight's times
	}
	for f, w := range m {
		if got[f] != w {
			t.Errorf("%s picked %d times in 10, want %d (%v)", f, got[f], w, got)
		}
	}
	if _, err := ParseMix("password=1,bogus=2"); err == nil {
		t.Error("ParseMix accepted an unknown flow")
	}
	if _, err := ParseMix("password=0"); err == nil {
		t.Error("ParseMix accepted a mix without weight")
	}
	if pm, err := ParseMix(m.String()); err != nil || pm.String() != m.String() {
		t.Errorf("ParseMix(%q) = %v, %v", m.String(), pm, err)
	}
}

func TestTenantOfIssuer(t *testing.T) {
	for in, want := range map[string]string{"http://127.0.0.1:8080/t/acme": "acme", "https://id.example.com/prefix/t/x-y/": "x-y",
		"http://127.0.0.1:8080/": "", "http://h/t/a/b": ""} {
		got, ok := TenantOfIssuer(in)
		if got != want || ok != (want != "") {
			t.Errorf("TenantOfIssuer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func fmtPtr(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}
