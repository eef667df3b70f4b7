package lab

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// Scenarios with targets (issue 6 item 5). Any other name gets the checks every
// scenario has: no command lost, none doubled.
const (
	ScenarioZoneDegraded     = "zone-degraded"
	ScenarioPrimaryDown      = "primary-down"
	ScenarioBrokerDown       = "broker-down"
	ScenarioLoginClusterDown = "login-cluster-down"
	ScenarioRollingUpgrade   = "rolling-upgrade"
)

// Scoring rules (README "Reading a scorecard").
const (
	// DefaultHealthy is the per-second end-user success rate at or above which a second
	// is healthy: 99.99 %. Below 10,000 requests a second that means a second without a
	// single failed request.
	DefaultHealthy = 0.9999
	// DefaultRecoverySeconds is N: an impact period ends with N consecutive healthy
	// seconds.
	DefaultRecoverySeconds = 5
)

// FaultWindow is when a scenario's fault was in force. A zero Start means no fault; a zero
// End with a Start means it lasted to the end of the load.
type FaultWindow struct {
	Start, End time.Time
}

// ScoreConfig is what the scorecard needs besides the load's result.
type ScoreConfig struct {
	Scenario string
	Fault    FaultWindow
	// Commands is the comparison of issued commands with applied ones (CountCommands);
	// nil: not measured, and the command checks fail.
	Commands        *Commands
	Healthy         float64 // default DefaultHealthy
	RecoverySeconds int     // default DefaultRecoverySeconds
}

// Scorecard is the score of one run. Times ending in _s are seconds; those that are
// instants (…start_s, …end_s) count from the load's start (the scheduled start of its
// first flow).
type Scorecard struct {
	Scenario  string    `json:"scenario"`
	StartedAt time.Time `json:"started_at"`
	DurationS float64   `json:"duration_s"`

	EndUserRequests         int      `json:"end_user_requests"`
	EndUserFailed           int      `json:"end_user_failed"`
	EndUserFailureRate      float64  `json:"end_user_failure_rate"`
	ImpactWindowS           float64  `json:"impact_window_s"`
	ImpactWindowFailureRate float64  `json:"impact_window_failure_rate"`
	TimeToMitigateS         *float64 `json:"time_to_mitigate_s"` // null: no fault, or not mitigated before the load ended
	AdminRequests           int      `json:"admin_requests"`
	AdminFailed             int      `json:"admin_failed"`
	AdminFailureRate        float64  `json:"admin_failure_rate"`

	CommandsMeasured   bool `json:"commands_measured"`
	CommandsIssued     int  `json:"commands_issued"`
	CommandsUncertain  int  `json:"commands_uncertain"`
	CommandsApplied    int  `json:"commands_applied"`
	CommandsLost       int  `json:"commands_lost"`
	CommandsDuplicated int  `json:"commands_duplicated"`

	P50ms Phases `json:"p50_ms"`
	P99ms Phases `json:"p99_ms"`

	Fault         *TimeSpan      `json:"fault"` // null: no fault
	ImpactWindow  ImpactWindow   `json:"impact_window"`
	ImpactPeriods []ImpactPeriod `json:"impact_periods"`
	FailedSignIns int            `json:"failed_sign_ins"`
	Flows         []FlowStats    `json:"flows"`
	Failures      map[string]int `json:"failures_by_class"` // end-user and admin, by class
	Rules         ScoreRules     `json:"rules"`
	Load          LoadShape      `json:"load"`
	Targets       []TargetCheck  `json:"targets"`
	Pass          bool           `json:"pass"`
	Seconds       []SecondStats  `json:"seconds"` // the per-second series the chart draws
}

// Phases are a latency percentile of the end-user flows over the whole run and, when
// there was a fault, before, during and after it (null: no flow in that phase).
type Phases struct {
	All    *float64 `json:"all"`
	Before *float64 `json:"before"`
	During *float64 `json:"during"`
	After  *float64 `json:"after"`
}

// TimeSpan is an interval in seconds from the load's start.
type TimeSpan struct {
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// ImpactWindow is the impact window: its span, what was started in it, and whether the load
// saw the recovery (N healthy seconds) before it ended.
type ImpactWindow struct {
	TimeSpan
	Requests  int  `json:"requests"`
	Failed    int  `json:"failed"`
	Recovered bool `json:"recovered"`
}

// ImpactPeriod is a run of unhealthy seconds (gaps shorter than N healthy seconds included).
type ImpactPeriod struct {
	TimeSpan
	Requests int  `json:"requests"`
	Failed   int  `json:"failed"`
	Closed   bool `json:"closed"` // followed by N healthy seconds
}

// FlowStats are one flow's numbers.
type FlowStats struct {
	Flow     Flow     `json:"flow"`
	Requests int      `json:"requests"`
	Failed   int      `json:"failed"`
	P50ms    *float64 `json:"p50_ms"`
	P99ms    *float64 `json:"p99_ms"`
}

// ScoreRules are the scoring parameters the card was computed with.
type ScoreRules struct {
	Healthy         float64 `json:"healthy_success_rate"`
	RecoverySeconds int     `json:"recovery_seconds"`
}

// LoadShape is the load's configuration, for the record.
type LoadShape struct {
	Rate        float64 `json:"rate"`
	AdminRate   float64 `json:"admin_rate"`
	Mix         string  `json:"mix"`
	TimeoutS    float64 `json:"timeout_s"`
	MaxInFlight int     `json:"max_in_flight"`
}

// SecondStats is one second of the run: the flows due in it and their latencies.
type SecondStats struct {
	T             int     `json:"t"`
	Requests      int     `json:"requests"`
	Failed        int     `json:"failed"`
	P50ms         float64 `json:"p50_ms"` // 0: no completed flow
	P99ms         float64 `json:"p99_ms"`
	AdminRequests int     `json:"admin_requests"`
	AdminFailed   int     `json:"admin_failed"`
}

// SuccessRate is the second's end-user success rate (1 with no request).
func (s SecondStats) SuccessRate() float64 {
	if s.Requests == 0 {
		return 1
	}
	return float64(s.Requests-s.Failed) / float64(s.Requests)
}

// TargetCheck is one target: what was wanted, what was measured, and whether it held.
type TargetCheck struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// Score computes the scorecard of res under sc.
//
// Every flow belongs to the second in which it was due (its scheduled start), counted
// from res.Start. A second is healthy when its end-user success rate is at least
// sc.Healthy (or it has no flow). Then:
//
//   - The impact window starts at the fault's start, or earlier at the due time of a
//     flow that was already running then and failed; without a fault, at the first
//     unhealthy second. An impact period starts at an unhealthy second at or after
//     the window's start and ends at the first of N consecutive healthy seconds; periods
//     that start later than N seconds after the fault ended are not the fault's. The
//     window ends where the last of the fault's periods ends, or at the end of the load
//     when that period was still open (Recovered false). No unhealthy second: an empty
//     window (0 s, rate 0).
//   - impact_window_failure_rate is failed / started among the end-user flows due in
//     the window.
//   - time_to_mitigate_s is from the fault's start to the end of the first period (0
//     when there was none); null without a fault, or when the first period was still
//     open at the end of the load.
//   - Percentiles are nearest-rank over the flows' latencies, refused flows
//     (overload) left out; before/during/after split them by due time around the
//     fault.
func Score(res *Result, sc ScoreConfig) Scorecard {
	if sc.Healthy <= 0 || sc.Healthy > 1 {
		sc.Healthy = DefaultHealthy
	}
	if sc.RecoverySeconds <= 0 {
		sc.RecoverySeconds = DefaultRecoverySeconds
	}
	cfg := res.Config
	card := Scorecard{Scenario: sc.Scenario, StartedAt: res.Start, DurationS: cfg.Duration.Seconds(),
		Failures: map[string]int{}, ImpactPeriods: []ImpactPeriod{},
		Rules: ScoreRules{Healthy: sc.Healthy, RecoverySeconds: sc.RecoverySeconds},
		Load: LoadShape{Rate: cfg.Rate, AdminRate: max(cfg.AdminRate, 0), Mix: cfg.Mix.String(), TimeoutS: cfg.Timeout.Seconds(),
			MaxInFlight: cfg.MaxInFlight}}
	t0 := res.Start
	sec := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	bucket := func(t time.Time) int { return max(0, int(math.Floor(sec(t)))) }

	n := int(math.Ceil(cfg.Duration.Seconds()))
	for _, o := range res.Outcomes {
		n = max(n, bucket(o.Start)+1)
	}
	card.Seconds = make([]SecondStats, n)
	lat := make([][]float64, n)
	for i := range card.Seconds {
		card.Seconds[i].T = i
	}
	byFlow := map[Flow]*flowAcc{}
	for _, o := range res.Outcomes {
		s := &card.Seconds[bucket(o.Start)]
		if !o.OK {
			card.Failures[o.Class]++
		}
		if o.Flow.Admin() {
			card.AdminRequests++
			s.AdminRequests++
			if !o.OK {
				card.AdminFailed++
				s.AdminFailed++
			}
			continue
		}
		card.EndUserRequests++
		s.Requests++
		fa := byFlow[o.Flow]
		if fa == nil {
			fa = &flowAcc{}
			byFlow[o.Flow] = fa
		}
		fa.n++
		if !o.OK {
			card.EndUserFailed++
			s.Failed++
			fa.failed++
			if o.Flow.SignIn() {
				card.FailedSignIns++
			}
		}
		if o.Class != ClassOverload {
			ms := float64(o.Latency) / float64(time.Millisecond)
			lat[bucket(o.Start)] = append(lat[bucket(o.Start)], ms)
			fa.lat = append(fa.lat, ms)
		}
	}
	for i := range card.Seconds {
		slices.Sort(lat[i])
		card.Seconds[i].P50ms = valueOr0(nearestRank(lat[i], 0.50))
		card.Seconds[i].P99ms = valueOr0(nearestRank(lat[i], 0.99))
	}
	card.EndUserFailureRate = fraction(card.EndUserFailed, card.EndUserRequests)
	card.AdminFailureRate = fraction(card.AdminFailed, card.AdminRequests)
	for _, f := range EndUserFlows {
		if fa := byFlow[f]; fa != nil {
			slices.Sort(fa.lat)
			card.Flows = append(card.Flows, FlowStats{Flow: f, Requests: fa.n, Failed: fa.failed,
				P50ms: nearestRank(fa.lat, 0.50), P99ms: nearestRank(fa.lat, 0.99)})
		}
	}

	hasFault := !sc.Fault.Start.IsZero()
	faultStart, faultEnd := sc.Fault.Start, sc.Fault.End
	if hasFault && faultEnd.IsZero() {
		faultEnd = res.End
	}
	f := faultSpan{on: hasFault, start: faultStart, end: faultEnd}
	card.phases(res, f)
	card.impact(res, sc, f)

	if sc.Commands != nil {
		c := sc.Commands.compare()
		card.CommandsMeasured = c.Measured
		card.CommandsIssued, card.CommandsUncertain = c.Issued, c.Uncertain
		card.CommandsApplied, card.CommandsLost, card.CommandsDuplicated = c.Applied, c.Lost, c.Duplicated
	} else {
		card.CommandsIssued, card.CommandsUncertain = res.Commands.Issued, res.Commands.Uncertain
	}
	card.Targets = scenarioTargets(card)
	card.Pass = true
	for _, t := range card.Targets {
		card.Pass = card.Pass && t.Pass
	}
	return card
}

// faultSpan is the fault a card is scored against (on: there was one).
type faultSpan struct {
	on         bool
	start, end time.Time
}

// phases fills the latency percentiles over the whole run and around the fault.
func (c *Scorecard) phases(res *Result, f faultSpan) {
	var all, before, during, after []float64
	for _, o := range res.Outcomes {
		if o.Flow.Admin() || o.Class == ClassOverload {
			continue
		}
		ms := float64(o.Latency) / float64(time.Millisecond)
		all = append(all, ms)
		switch {
		case !f.on:
		case o.Start.Before(f.start):
			before = append(before, ms)
		case o.Start.Before(f.end):
			during = append(during, ms)
		default:
			after = append(after, ms)
		}
	}
	for _, s := range [][]float64{all, before, during, after} {
		slices.Sort(s)
	}
	c.P50ms = Phases{All: nearestRank(all, 0.5), Before: nearestRank(before, 0.5), During: nearestRank(during, 0.5), After: nearestRank(after, 0.5)}
	c.P99ms = Phases{All: nearestRank(all, 0.99), Before: nearestRank(before, 0.99), During: nearestRank(during, 0.99), After: nearestRank(after, 0.99)}

}

// impact fills the fault's span, the impact periods and window, and the time to
// mitigate (see Score).
func (c *Scorecard) impact(res *Result, sc ScoreConfig, f faultSpan) {
	t0, n := res.Start, len(c.Seconds)
	sec := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	bucket := func(t time.Time) int { return max(0, int(math.Floor(sec(t)))) }
	healthy := func(i int) bool { return c.Seconds[i].SuccessRate() >= sc.Healthy }
	ws := f.start
	if f.on {
		c.Fault = &TimeSpan{StartS: sec(f.start), EndS: sec(f.end)}
		for _, o := range res.Outcomes {
			if !o.OK && !o.Flow.Admin() && o.Start.Before(ws) && !o.End().Before(f.start) {
				ws = o.Start
			}
		}
	} else {
		ws = t0
	}
	lastBucket := n // periods must start before this second to be the fault's
	if f.on {
		lastBucket = min(n, int(math.Ceil(sec(f.end)))+sc.RecoverySeconds)
	}
	for i := bucket(ws); i < lastBucket; i++ {
		if healthy(i) {
			continue
		}
		p := ImpactPeriod{TimeSpan: TimeSpan{StartS: float64(i)}}
		run, j := 0, i
		for ; j < n && run < sc.RecoverySeconds; j++ {
			if healthy(j) {
				run++
			} else {
				run = 0
			}
		}
		end := j - run // the first second of the healthy run (or n)
		p.Closed = run >= sc.RecoverySeconds
		p.EndS = float64(end)
		for k := i; k < end; k++ {
			p.Requests += c.Seconds[k].Requests
			p.Failed += c.Seconds[k].Failed
		}
		c.ImpactPeriods = append(c.ImpactPeriods, p)
		i = end - 1
	}
	if len(c.ImpactPeriods) > 0 {
		first, last := c.ImpactPeriods[0], c.ImpactPeriods[len(c.ImpactPeriods)-1]
		startS := sec(ws)
		if !f.on {
			startS = first.StartS
		}
		endS := last.EndS
		if !last.Closed {
			endS = max(endS, sec(res.End))
		}
		c.ImpactWindow = ImpactWindow{TimeSpan: TimeSpan{StartS: startS, EndS: endS}, Recovered: last.Closed}
		for _, o := range res.Outcomes {
			if s := sec(o.Start); !o.Flow.Admin() && s >= startS && s < endS {
				c.ImpactWindow.Requests++
				if !o.OK {
					c.ImpactWindow.Failed++
				}
			}
		}
		c.ImpactWindowS = endS - startS
		c.ImpactWindowFailureRate = fraction(c.ImpactWindow.Failed, c.ImpactWindow.Requests)
		if f.on && first.Closed {
			ttm := max(0, first.EndS-sec(f.start))
			c.TimeToMitigateS = &ttm
		}
	} else {
		c.ImpactWindow = ImpactWindow{TimeSpan: TimeSpan{StartS: sec(ws), EndS: sec(ws)}, Recovered: true}
		if f.on {
			c.TimeToMitigateS = new(float64)
		}
	}

}

type flowAcc struct {
	n, failed int
	lat       []float64
}

// nearestRank is the q-quantile of sorted by the nearest-rank method (the
// ⌈q·n⌉-th smallest); nil for no value.
func nearestRank(sorted []float64, q float64) *float64 {
	if len(sorted) == 0 {
		return nil
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	v := sorted[min(max(i, 0), len(sorted)-1)]
	return &v
}

func valueOr0(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func fraction(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// scenarioTargets are the checks of card's scenario (issue 6 item 5).
func scenarioTargets(card Scorecard) []TargetCheck {
	var cs []TargetCheck
	pct := func(v float64) string { return fmt.Sprintf("%.4f%%", 100*v) }
	switch card.Scenario {
	case ScenarioZoneDegraded:
		cs = append(cs,
			TargetCheck{Name: "end-user failure rate", Want: "< 0.01%", Got: pct(card.EndUserFailureRate), Pass: card.EndUserFailureRate < 0.0001},
			mitigationCheck(card, 10))
	case ScenarioPrimaryDown:
		cs = append(cs, TargetCheck{Name: "failed sign-ins", Want: "0", Got: fmt.Sprint(card.FailedSignIns), Pass: card.FailedSignIns == 0})
	case ScenarioBrokerDown:
		// the command checks below are this scenario's target
	case ScenarioLoginClusterDown:
		cs = append(cs, TargetCheck{Name: "failure rate in the impact window", Want: "< 0.05%", Got: pct(card.ImpactWindowFailureRate),
			Pass: card.ImpactWindowFailureRate < 0.0005})
	case ScenarioRollingUpgrade:
		cs = append(cs,
			TargetCheck{Name: "failed end-user requests", Want: "0", Got: fmt.Sprint(card.EndUserFailed), Pass: card.EndUserFailed == 0},
			TargetCheck{Name: "failed admin requests", Want: "0", Got: fmt.Sprint(card.AdminFailed), Pass: card.AdminFailed == 0})
	}
	got := func(v int) string {
		if !card.CommandsMeasured {
			return "not measured"
		}
		return fmt.Sprint(v)
	}
	cs = append(cs,
		TargetCheck{Name: "commands lost", Want: "0", Got: got(card.CommandsLost), Pass: card.CommandsMeasured && card.CommandsLost == 0},
		TargetCheck{Name: "commands duplicated", Want: "0", Got: got(card.CommandsDuplicated), Pass: card.CommandsMeasured && card.CommandsDuplicated == 0})
	return cs
}

func mitigationCheck(card Scorecard, limit float64) TargetCheck {
	c := TargetCheck{Name: "time to mitigate", Want: fmt.Sprintf("< %g s", limit)}
	switch {
	case card.TimeToMitigateS == nil && card.Fault == nil:
		c.Got = "no fault"
	case card.TimeToMitigateS == nil:
		c.Got = "not mitigated"
	default:
		c.Got = fmt.Sprintf("%.1f s", *card.TimeToMitigateS)
		c.Pass = *card.TimeToMitigateS < limit
	}
	return c
}

// WriteJSON writes the card to path (indented).
func (c Scorecard) WriteJSON(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadScorecard reads a card WriteJSON wrote.
func ReadScorecard(path string) (Scorecard, error) {
	var c Scorecard
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	return c, err
}
