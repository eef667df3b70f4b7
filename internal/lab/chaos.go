package lab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A chaos run (`nines lab chaos SCENARIO`) against a running lab: the load for the whole
// duration, split into three phases — before the fault (warm-up of the measurement),
// the fault, after it (recovery) — the fault injected at the first boundary, the
// scenario's documented operator actions taken while it lasts, the fault removed (every
// process it stopped started again, every toxic removed) at the second boundary; then
// the commands awaited, the scorecard computed against the fault window, and the card,
// its table, its chart and the run's timeline written to an output directory.
//
// Every wait is bounded; whatever the scenario stopped or degraded is restored on every
// path (an error, Ctrl-C) before RunChaos returns.

// Scenarios without a scorecard target of their own (they get the checks every scenario
// has: nothing lost, nothing doubled; README "Reliability").
const (
	ScenarioReplicaDown = "replica-down"
	ScenarioRegionDown  = "region-down"
)

// Scenarios are the names `lab chaos` accepts, in the order the README documents them.
var Scenarios = []string{ScenarioZoneDegraded, ScenarioPrimaryDown, ScenarioReplicaDown, ScenarioBrokerDown,
	ScenarioLoginClusterDown, ScenarioRegionDown, ScenarioRollingUpgrade}

// Defaults and bounds of a chaos run.
const (
	DefaultChaosRate        = 20
	DefaultChaosDuration    = 2 * time.Minute
	DefaultChaosWait        = 2 * time.Minute
	DefaultZoneToxicity     = 0.15
	DefaultFailoverAfter    = 5 * time.Second
	MinChaosPhase           = 10 * time.Second
	chaosOpTimeout          = 2*time.Minute + 30*time.Second // one control call (a start waits up to 2 min)
	chaosRestoreTimeout     = 3 * time.Minute                // everything a scenario must undo
	chaosLoadStartTimeout   = 2 * time.Minute                // the load's warm-up
	chaosEdgeSettleTimeout  = 30 * time.Second               // an edge seeing restarted backends healthy
	chaosNATSCatchUpTimeout = 30 * time.Second               // a restarted NATS member current again
)

// Split is the relative length of the three phases of a run: before the fault, the
// fault, after it.
type Split struct{ Before, Fault, After float64 }

// DefaultSplit is a third each.
var DefaultSplit = Split{1, 1, 1}

// ParseSplit reads "before:fault:after" ("1:1:1", "1:2:1").
func ParseSplit(s string) (Split, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Split{}, fmt.Errorf("split %q: want before:fault:after, e.g. 1:1:1", s)
	}
	var v [3]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f <= 0 || f > 1000 {
			return Split{}, fmt.Errorf("split %q: %q is not a number above 0", s, p)
		}
		v[i] = f
	}
	return Split{v[0], v[1], v[2]}, nil
}

func (s Split) String() string { return fmt.Sprintf("%g:%g:%g", s.Before, s.Fault, s.After) }

// phases are the three phases' lengths for a run of d.
func (s Split) phases(d time.Duration) (before, fault, after time.Duration) {
	total := s.Before + s.Fault + s.After
	before = time.Duration(float64(d) * s.Before / total).Round(time.Millisecond)
	fault = time.Duration(float64(d) * s.Fault / total).Round(time.Millisecond)
	return before, fault, d - before - fault
}

// ChaosConfig is a chaos run. Zero fields take the defaults shown.
type ChaosConfig struct {
	Scenario string
	Duration time.Duration // the load's length (default 2 min), every phase at least MinChaosPhase
	Split    Split         // default 1:1:1
	// The load (LoadConfig): end-user flows per second (default 20; region-down splits
	// it evenly over the regions' edges), admin requests per second (default 1, through
	// the primary region's edge; negative: none), mix, flow timeout.
	Rate      float64
	AdminRate float64
	Mix       Mix
	Timeout   time.Duration
	// OutDir receives scorecard.json, scorecard.txt, chart.png, chaos.json and
	// outcomes.jsonl (default: <lab dir>/chaos/<scenario>-<UTC time>).
	OutDir string
	// WaitCommands bounds the wait for the worker to apply the sign-ins' commands after
	// the load (default 2 min).
	WaitCommands time.Duration

	// zone-degraded: the zone (default: the primary region's second zone, the first
	// when it has one), the share of connections that time out (default 0.15), and
	// DrainAfter: when set, the operator's `nines ctl edge drain --zone` on every edge
	// that long after the fault began (0: no operator action; the edge's outlier
	// detection is the only mitigation).
	Zone       string
	Toxicity   float64
	DrainAfter time.Duration
	// login-cluster-down: the cluster (default: the primary region's first).
	Cluster string
	// region-down: the region lost (default: the last secondary region), and when the
	// operator fails its traffic over (default 5 s after the loss).
	Region        string
	FailoverAfter time.Duration
	// rolling-upgrade: also restart the edge the load enters through (the lab has no
	// balancer in front of an edge, so that restart is an outage of the load's entry
	// point by construction; default: every other edge only).
	RestartEntryEdge bool

	// Log receives the run's progress (default: discarded).
	Log io.Writer
}

func (c ChaosConfig) withDefaults(st State) ChaosConfig {
	if c.Duration == 0 {
		c.Duration = DefaultChaosDuration
	}
	if c.Split == (Split{}) {
		c.Split = DefaultSplit
	}
	if c.Rate == 0 {
		c.Rate = DefaultChaosRate
	}
	if c.WaitCommands == 0 {
		c.WaitCommands = DefaultChaosWait
	}
	if c.Toxicity == 0 {
		c.Toxicity = DefaultZoneToxicity
	}
	if c.FailoverAfter == 0 {
		c.FailoverAfter = DefaultFailoverAfter
	}
	if c.OutDir == "" {
		c.OutDir = filepath.Join(st.Dir, "chaos", c.Scenario+"-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

func (c ChaosConfig) validate() error {
	var errs []error
	known := false
	for _, s := range Scenarios {
		known = known || s == c.Scenario
	}
	if !known {
		errs = append(errs, fmt.Errorf("scenario %q: want one of %s", c.Scenario, strings.Join(Scenarios, ", ")))
	}
	if c.Split.Before <= 0 || c.Split.Fault <= 0 || c.Split.After <= 0 {
		errs = append(errs, fmt.Errorf("split %s: every phase needs a length", c.Split))
	}
	before, fault, after := c.Split.phases(c.Duration)
	if min(before, fault, after) < MinChaosPhase {
		errs = append(errs, fmt.Errorf("duration %v split %s gives phases of %v, %v and %v: each needs at least %v",
			c.Duration, c.Split, before, fault, after, MinChaosPhase))
	}
	if c.Toxicity <= 0 || c.Toxicity > 1 {
		errs = append(errs, fmt.Errorf("toxicity %v: want a fraction of connections in (0, 1]", c.Toxicity))
	}
	if c.DrainAfter < 0 || c.FailoverAfter < 0 {
		errs = append(errs, errors.New("drain-after and failover-after cannot be negative"))
	}
	return errors.Join(errs...)
}

// ChaosReport is what a run did: the scorecard, the timeline of every action, and
// where the files are. chaos.json holds it (without the card, which is scorecard.json).
type ChaosReport struct {
	Scenario string        `json:"scenario"`
	Lab      string        `json:"lab"`
	Topology string        `json:"topology"`
	Machine  ChaosMachine  `json:"machine"`
	Config   ChaosSettings `json:"config"`
	// LoadStart is t0 of every time below (the load's first flow); FaultStart and
	// FaultEnd are when the fault began and when everything was restored, in seconds
	// from it.
	LoadStart  time.Time     `json:"load_start"`
	FaultStart float64       `json:"fault_start_s"`
	FaultEnd   float64       `json:"fault_end_s"`
	Actions    []ChaosAction `json:"actions"`
	// EdgeEvents are the edges' change and health events during the run (ejections,
	// returns, drains, failovers), oldest first.
	EdgeEvents []ChaosEdgeEvent `json:"edge_events"`
	Notes      []string         `json:"notes,omitempty"`
	Files      []string         `json:"files"`
	Card       Scorecard        `json:"-"`
}

// ChaosSettings are the run's parameters, for the record.
type ChaosSettings struct {
	DurationS      float64 `json:"duration_s"`
	Split          string  `json:"split"`
	BeforeS        float64 `json:"before_s"`
	FaultS         float64 `json:"fault_s"`
	AfterS         float64 `json:"after_s"`
	Rate           float64 `json:"rate"`
	AdminRate      float64 `json:"admin_rate"`
	Zone           string  `json:"zone,omitempty"`
	Toxicity       float64 `json:"toxicity,omitempty"`
	DrainAfterS    float64 `json:"drain_after_s,omitempty"`
	Cluster        string  `json:"cluster,omitempty"`
	Region         string  `json:"region,omitempty"`
	FailoverAfterS float64 `json:"failover_after_s,omitempty"`
}

// ChaosAction is one thing the runner did: a kill, a start, a toxic, an edge change.
type ChaosAction struct {
	AtS    float64 `json:"at_s"` // from the load's start
	TookS  float64 `json:"took_s"`
	What   string  `json:"what"`
	OK     bool    `json:"ok"`
	Detail string  `json:"detail,omitempty"`

	at time.Time
}

// ChaosMachine is where a run ran: the host, and its load average (1, 5, 15 min) when
// the run began and when it ended — the machine may be shared.
type ChaosMachine struct {
	BenchHost
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// ChaosEdgeEvent is an edge's event, tagged with the edge.
type ChaosEdgeEvent struct {
	Edge   string  `json:"edge"`
	AtS    float64 `json:"at_s"`
	Kind   string  `json:"kind"`
	Action string  `json:"action"`
	Target string  `json:"target,omitempty"`
	Result string  `json:"result"`
	Detail string  `json:"detail,omitempty"`

	at time.Time
}

// chaosRun is one run in progress.
type chaosRun struct {
	st  State
	cfg ChaosConfig
	log io.Writer

	logMu sync.Mutex // serialises writes to log: undos run concurrently

	mu       sync.Mutex
	t0       time.Time // the load's start (estimated until the load returns)
	actions  []ChaosAction
	notes    []string
	restores []restore
	failed   []string // actions that failed: the run did not go as planned
}

// restore is something a scenario must undo (start a process, remove a toxic, undrain).
type restore struct {
	what string
	do   func(context.Context) error
	done bool
}

func (r *chaosRun) logf(format string, args ...any) {
	r.mu.Lock()
	t0 := r.t0
	r.mu.Unlock()
	at := "   —   "
	if !t0.IsZero() {
		at = fmt.Sprintf("%6.1fs", time.Since(t0).Seconds())
	}
	line := fmt.Sprintf("  %s  %s\n", at, fmt.Sprintf(format, args...))
	r.logMu.Lock()
	defer r.logMu.Unlock()
	_, _ = io.WriteString(r.log, line)
}

// note records a remark for the report (and the log).
func (r *chaosRun) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.notes = append(r.notes, s)
	r.mu.Unlock()
	r.logf("note: %s", s)
}

// act runs one action, bounded by chaosOpTimeout, and records it.
func (r *chaosRun) act(ctx context.Context, what string, f func(context.Context) (string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, chaosOpTimeout)
	defer cancel()
	began := time.Now()
	detail, err := f(ctx)
	a := ChaosAction{What: what, OK: err == nil, Detail: detail, TookS: roundTo(time.Since(began).Seconds(), 2), at: began}
	if err != nil {
		a.Detail = strings.TrimSpace(strings.Join([]string{detail, err.Error()}, " "))
	}
	r.mu.Lock()
	r.actions = append(r.actions, a)
	if err != nil {
		r.failed = append(r.failed, what)
	}
	r.mu.Unlock()
	if err != nil {
		r.logf("%s: FAILED after %.1f s: %s", what, a.TookS, a.Detail)
	} else {
		r.logf("%s (%.1f s)%s", what, a.TookS, prefixed(" ", detail))
	}
	return err
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// onRestore registers an undo; it returns its index for restoreNow.
func (r *chaosRun) onRestore(what string, do func(context.Context) error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restores = append(r.restores, restore{what: what, do: do})
	return len(r.restores) - 1
}

// restoreAll runs every undo not yet done, concurrently in groups of the order they were
// registered in reverse (a fault's last step is undone first), each as an action.
func (r *chaosRun) restoreAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chaosRestoreTimeout)
	defer cancel()
	r.mu.Lock()
	var todo []int
	for i := len(r.restores) - 1; i >= 0; i-- {
		if !r.restores[i].done {
			r.restores[i].done = true
			todo = append(todo, i)
		}
	}
	rs := r.restores
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Go(func() {
			_ = r.act(ctx, rs[i].what, func(ctx context.Context) (string, error) { return "", rs[i].do(ctx) })
		})
	}
	wg.Wait()
}

// sleepUntil waits until t or ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RunChaos runs cfg.Scenario against the running lab st and returns its report (with the
// card). The error is about the run (a bad configuration, a lab that is not ready, a
// load that could not start, files that could not be written); a target the card
// fails is in the card. Whatever the scenario did to the lab is undone before it
// returns.
func RunChaos(ctx context.Context, st State, cfg ChaosConfig) (*ChaosReport, error) {
	cfg = cfg.withDefaults(st)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if st.Status != StatusReady {
		return nil, fmt.Errorf("lab %s is %q, not ready", st.Dir, st.Status)
	}
	sc, err := newScenario(st, &cfg)
	if err != nil {
		return nil, err
	}
	loads, err := sc.loads(st, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	outcomes, err := os.Create(filepath.Join(cfg.OutDir, "outcomes.jsonl"))
	if err != nil {
		return nil, err
	}
	defer outcomes.Close()
	out := &lockedWriter{w: outcomes}

	before, fault, after := cfg.Split.phases(cfg.Duration)
	r := &chaosRun{st: st, cfg: cfg, log: cfg.Log}
	machine := ChaosMachine{BenchHost: benchHost(), LoadAvgStart: loadAvg()}
	fmt.Fprintf(cfg.Log, "nines lab chaos %s: %v of load at %g flows/s (admin %g/s); fault from %v to %v, then %v of recovery\n",
		cfg.Scenario, cfg.Duration, cfg.Rate, max(cfg.AdminRate, 0), before, before+fault, after)
	fmt.Fprintf(cfg.Log, "  %s\n  output: %s\n", sc.describe, cfg.OutDir)

	// The loads, the fault's timeline beside them.
	started := make(chan time.Time, 1)
	var startOnce sync.Once
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	results := make([]*Result, len(loads))
	errs := make([]error, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		lc := l.cfg
		lc.Out = &lineWriter{dst: out}
		if i == 0 {
			every := max(time.Second, cfg.Duration/12).Round(time.Second)
			var last time.Duration
			lc.Progress = func(p Progress) {
				startOnce.Do(func() { started <- time.Now().Add(-p.Elapsed) })
				if p.Elapsed-last >= every || p.Elapsed >= cfg.Duration {
					last = p.Elapsed
					r.logf("load: started %d, ok %d, failed %d, in flight %d", p.Started, p.OK, p.Failed, p.InFlight)
				}
			}
		}
		wg.Go(func() { results[i], errs[i] = RunLoad(loadCtx, l.target, lc) })
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()

	var faultStart, faultEnd time.Time
	timeline := make(chan struct{})
	go func() {
		defer close(timeline)
		var t0 time.Time
		select {
		case t0 = <-started:
		case <-loadDone:
			return
		case <-time.After(chaosLoadStartTimeout):
			r.note("the load did not start within %v: no fault injected", chaosLoadStartTimeout)
			cancelLoad()
			return
		}
		r.mu.Lock()
		r.t0 = t0
		r.mu.Unlock()
		if sleepUntil(loadCtx, t0.Add(before)) != nil {
			return
		}
		faultStart = time.Now()
		r.logf("FAULT: %s", sc.describe)
		plan := faultPlan{start: faultStart, end: t0.Add(before + fault), loadEnd: t0.Add(cfg.Duration)}
		if err := sc.run(loadCtx, r, plan); err != nil {
			r.note("the scenario stopped early: %v", err)
		}
		r.restoreAll(ctx)
		faultEnd = time.Now()
		r.logf("fault over: everything restored (%.1f s after it began)", faultEnd.Sub(faultStart).Seconds())
	}()
	<-loadDone
	<-timeline // the fault ended before the load did, or the load ended early and the restores ran

	res, err := mergeResults(results, errs)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	r.mu.Lock()
	r.t0 = res.Start
	r.mu.Unlock()
	r.logf("load done: %d flows; waiting up to %v for the worker to apply %d sign-in commands", len(res.Outcomes),
		cfg.WaitCommands, res.Commands.Issued)
	var cmds *Commands
	if cc, err := AwaitCommands(ctx, loads[0].target, res, cfg.WaitCommands); err != nil {
		r.note("counting the applied commands: %v", err)
	} else {
		cmds = &cc
	}

	card := Score(res, ScoreConfig{Scenario: cfg.Scenario, Fault: FaultWindow{Start: faultStart, End: faultEnd}, Commands: cmds})
	r.mu.Lock()
	failed := append([]string(nil), r.failed...)
	r.mu.Unlock()
	planned := TargetCheck{Name: "scenario ran as planned", Want: "every action ok", Got: "yes", Pass: len(failed) == 0 && !faultStart.IsZero()}
	switch {
	case faultStart.IsZero():
		planned.Got = "no fault injected"
	case len(failed) > 0:
		planned.Got = "failed: " + strings.Join(failed, "; ")
	}
	card.Targets = append(card.Targets, planned)
	card.Pass = card.Pass && planned.Pass

	machine.LoadAvgEnd = loadAvg()
	rep := &ChaosReport{Scenario: cfg.Scenario, Lab: st.Dir, Topology: st.Topology, Machine: machine,
		Config: ChaosSettings{DurationS: cfg.Duration.Seconds(), Split: cfg.Split.String(), BeforeS: before.Seconds(),
			FaultS: fault.Seconds(), AfterS: after.Seconds(), Rate: cfg.Rate, AdminRate: max(cfg.AdminRate, 0)},
		LoadStart: res.Start, Card: card}
	sc.settings(&rep.Config)
	if !faultStart.IsZero() {
		rep.FaultStart, rep.FaultEnd = faultStart.Sub(res.Start).Seconds(), faultEnd.Sub(res.Start).Seconds()
	}
	r.mu.Lock()
	rep.Actions = r.actions
	rep.Notes = r.notes
	r.mu.Unlock()
	for i := range rep.Actions { // timed against the load's exact start, known only now
		rep.Actions[i].AtS = roundTo(rep.Actions[i].at.Sub(res.Start).Seconds(), 3)
	}
	rep.EdgeEvents = edgeEvents(ctx, st, res.WarmupStart, res.End)
	for i := range rep.EdgeEvents {
		rep.EdgeEvents[i].AtS = roundTo(rep.EdgeEvents[i].at.Sub(res.Start).Seconds(), 3)
	}
	if err := rep.write(cfg.OutDir); err != nil {
		return rep, err
	}
	return rep, nil
}

func roundTo(v float64, decimals int) float64 {
	p := 1.0
	for range decimals {
		p *= 10
	}
	return float64(int64(v*p+0.5*sign(v))) / p
}

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

// write writes the card (JSON, table, chart) and the report into dir.
func (rep *ChaosReport) write(dir string) error {
	files := []string{"scorecard.json", "scorecard.txt", "chart.png", "chaos.json", "outcomes.jsonl"}
	rep.Files = nil
	for _, f := range files {
		rep.Files = append(rep.Files, filepath.Join(dir, f))
	}
	if err := rep.Card.WriteJSON(filepath.Join(dir, "scorecard.json")); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "scorecard.txt"))
	if err != nil {
		return err
	}
	if err := rep.WriteTable(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := rep.Card.WriteChartFile(filepath.Join(dir, "chart.png"), 0, 0); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chaos.json"), append(b, '\n'), 0o644)
}

// WriteTable prints the scorecard, then the run's timeline and notes.
func (rep *ChaosReport) WriteTable(w io.Writer) error {
	if err := rep.Card.WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTIMELINE (seconds from the load's start; fault %.1f s → %.1f s)\n", rep.FaultStart, rep.FaultEnd)
	for _, line := range rep.timeline() {
		fmt.Fprintf(w, "  %7.1f  %s\n", line.at, line.text)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	return nil
}

type timelineLine struct {
	at   float64
	text string
}

// timeline is the runner's actions and the edges' events from a second before the
// fault on, in time order.
func (rep *ChaosReport) timeline() []timelineLine {
	var out []timelineLine
	for _, a := range rep.Actions {
		text := fmt.Sprintf("%s (%.1f s)", a.What, a.TookS)
		if !a.OK {
			text = "FAILED: " + text
		}
		out = append(out, timelineLine{a.AtS, text + prefixed(": ", a.Detail)})
	}
	for _, e := range rep.EdgeEvents {
		if e.AtS >= rep.FaultStart-1 {
			out = append(out, timelineLine{e.AtS, fmt.Sprintf("%s: %s %s %s%s", e.Edge, e.Action, e.Target, e.Result, prefixed(" — ", e.Detail))})
		}
	}
	slices.SortStableFunc(out, func(a, b timelineLine) int { return cmp.Compare(a.at, b.at) })
	return out
}

// lineWriter hands only whole lines to dst: each load's recorder buffers its output and
// flushes it in chunks that may end mid-line, and loads that share one file must not
// interleave inside a line.
type lineWriter struct {
	dst *lockedWriter
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		if _, err := l.dst.Write(l.buf[:i+1]); err != nil {
			return 0, err
		}
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	return len(p), nil
}

// lockedWriter serialises the outcome lines of the loads that share one file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// mergeResults is one Result of loads run side by side (region-down loads every
// region's edge): every outcome, the earliest start, the latest end, the commands summed.
// Their users are the same: the command count reads them once over the merged window.
func mergeResults(results []*Result, errs []error) (*Result, error) {
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		if results[i] == nil {
			return nil, errors.New("a load returned no result")
		}
	}
	if len(results) == 1 {
		return results[0], nil
	}
	m := *results[0]
	m.Outcomes = nil
	m.Config.Rate, m.Config.AdminRate = 0, 0
	for _, r := range results {
		m.Config.Rate += r.Config.Rate
		m.Config.AdminRate += max(r.Config.AdminRate, 0)
		if r.Start.Before(m.Start) {
			m.Start = r.Start
		}
		if r.WarmupStart.Before(m.WarmupStart) {
			m.WarmupStart = r.WarmupStart
		}
		if r.End.After(m.End) {
			m.End = r.End
		}
		m.Outcomes = append(m.Outcomes, r.Outcomes...)
		m.Cancelled = m.Cancelled || r.Cancelled
		for _, u := range r.Users {
			if !slices.Contains(m.Users, u) {
				m.Users = append(m.Users, u)
			}
		}
	}
	m.Scheduled, m.AdminScheduled, m.Commands = 0, 0, IssuedCommands{}
	for _, r := range results {
		m.Scheduled += r.Scheduled
		m.AdminScheduled += r.AdminScheduled
		m.Commands.Issued += r.Commands.Issued
		m.Commands.Uncertain += r.Commands.Uncertain
	}
	if m.Config.AdminRate == 0 {
		m.Config.AdminRate = -1
	}
	return &m, nil
}
