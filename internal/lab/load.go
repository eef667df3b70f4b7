package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Flow is one kind of request the load makes. An end-user flow is what a person (or a
// relying party on their behalf) experiences as one action, however many HTTP requests
// it takes: a password sign-in is authorize → the hosted form → POST the password → the
// code at the callback → the token endpoint → a verified ID token, and it succeeds or
// fails as a whole. Its outcome names the step that failed.
type Flow string

// The flows.
const (
	// FlowPassword is a full sign-in through the hosted form with a fresh browser (no
	// session). Each one that succeeds issues one user.signed_in command.
	FlowPassword Flow = "password"
	// FlowSSO is a sign-in with an existing session: authorize → the code at once (no
	// form) → the token endpoint → a verified ID token. It issues no command.
	FlowSSO Flow = "sso"
	// FlowRefresh redeems a refresh token (rotation: the new one replaces it).
	FlowRefresh Flow = "refresh"
	// FlowClientCredentials is the client_credentials grant of the load's client.
	FlowClientCredentials Flow = "client_credentials"
	// FlowUserinfo calls the userinfo endpoint with an access token of a sign-in.
	FlowUserinfo Flow = "userinfo"
	// FlowAdminList lists the tenant's users through the admin API.
	FlowAdminList Flow = "admin_list_users"
	// FlowAdminCreate creates a group through the admin API.
	FlowAdminCreate Flow = "admin_create_group"
)

// EndUserFlows are the end-user flows in report order.
var EndUserFlows = []Flow{FlowPassword, FlowSSO, FlowRefresh, FlowClientCredentials, FlowUserinfo}

// Admin reports whether f is admin traffic (not an end user's).
func (f Flow) Admin() bool { return f == FlowAdminList || f == FlowAdminCreate }

// SignIn reports whether f is a sign-in (password or SSO).
func (f Flow) SignIn() bool { return f == FlowPassword || f == FlowSSO }

// Mix is the relative weight of each end-user flow; flows absent or at 0 are not sent.
type Mix map[Flow]int

// DefaultMix is a sign-in-heavy day: every fifth flow is a password sign-in and the
// rest is what signed-in users and services do between two of them.
func DefaultMix() Mix {
	return Mix{FlowPassword: 20, FlowSSO: 20, FlowRefresh: 20, FlowClientCredentials: 15, FlowUserinfo: 25}
}

// ParseMix reads "password=20,sso=20,…" (flows left out get 0).
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(w))
		f := Flow(strings.TrimSpace(name))
		if !ok || err != nil || n < 0 || !slices.Contains(EndUserFlows, f) {
			return nil, fmt.Errorf("mix: %q: want flow=weight with a flow among %v and a weight ≥ 0", part, EndUserFlows)
		}
		m[f] = n
	}
	return m, m.validate()
}

func (m Mix) validate() error {
	total := 0
	for f, w := range m {
		if !slices.Contains(EndUserFlows, f) || w < 0 {
			return fmt.Errorf("mix: %s=%d is not an end-user flow with a weight ≥ 0", f, w)
		}
		total += w
	}
	if total == 0 {
		return errors.New("mix: every weight is 0")
	}
	return nil
}

// String is the mix as ParseMix reads it, in report order.
func (m Mix) String() string {
	var parts []string
	for _, f := range EndUserFlows {
		if m[f] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", f, m[f]))
		}
	}
	return strings.Join(parts, ",")
}

// flowPicker chooses flows by smooth weighted round robin: deterministic, and every window
// of sum(weights) picks holds each flow exactly its weight's times, so a short run
// still sends every flow in proportion.
type flowPicker struct {
	flows   []Flow
	weights []int
	current []int
	total   int
}

func newFlowPicker(m Mix) *flowPicker {
	p := &flowPicker{}
	for _, f := range EndUserFlows {
		if m[f] > 0 {
			p.flows, p.weights = append(p.flows, f), append(p.weights, m[f])
			p.total += m[f]
		}
	}
	p.current = make([]int, len(p.flows))
	return p
}

func (p *flowPicker) next() Flow {
	best := 0
	for i := range p.flows {
		p.current[i] += p.weights[i]
		if p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= p.total
	return p.flows[best]
}

// LoadConfig shapes a load. Zero fields take the defaults shown.
type LoadConfig struct {
	Rate     float64       // end-user flows started per second (default 10)
	Duration time.Duration // how long flows are started for (default 60 s); the run ends when the last one ends
	Mix      Mix           // default DefaultMix()
	// AdminRate is admin requests per second (default 1; negative: none). Every
	// AdminCreateEvery-th is a group creation (default 10), the others list users.
	AdminRate        float64
	AdminCreateEvery int
	// MaxInFlight bounds the end-user flows running at once (default 256), and
	// AdminMaxInFlight the admin requests (default 16). A flow whose start time comes
	// while every slot is taken is not started: it is recorded at once as failed, class
	// "overload". An outage cannot make the load spawn goroutines without bound.
	MaxInFlight      int
	AdminMaxInFlight int
	// Timeout bounds one flow, every step included (default 10 s): past it the flow
	// fails with class "timeout".
	Timeout time.Duration
	// Warmup is how many password sign-ins run before the clock starts (default 4), so
	// that the SSO, refresh and userinfo flows have sessions and tokens from the first
	// second. A warm-up that fails ends the run before it starts: the target is not
	// serving. Warm-up sign-ins are not outcomes, but they issue commands and count in
	// Result.Commands. Negative: none.
	Warmup int
	// MaxOutcomes bounds the in-memory record (default 2,000,000, ~200 MB). A
	// configuration that would start more flows is refused, so nothing is dropped.
	MaxOutcomes int
	// Out, if set, receives every outcome as a JSON line when it completes.
	Out io.Writer
	// Progress, if set, is called about once a second while flows are being started.
	Progress func(Progress)
	// RunID names what the load creates (group names); default: the start time.
	RunID string
}

// Defaults of LoadConfig.
const (
	DefaultRate             = 10
	DefaultDuration         = 60 * time.Second
	DefaultAdminRate        = 1
	DefaultAdminCreateEvery = 10
	DefaultMaxInFlight      = 256
	DefaultAdminMaxInFlight = 16
	DefaultTimeout          = 10 * time.Second
	DefaultWarmup           = 4
	DefaultMaxOutcomes      = 2_000_000
)

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	if c.AdminRate == 0 {
		c.AdminRate = DefaultAdminRate
	}
	if c.AdminCreateEvery <= 0 {
		c.AdminCreateEvery = DefaultAdminCreateEvery
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.AdminMaxInFlight <= 0 {
		c.AdminMaxInFlight = DefaultAdminMaxInFlight
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	}
	if c.MaxOutcomes <= 0 {
		c.MaxOutcomes = DefaultMaxOutcomes
	}
	return c
}

// counts are how many end-user and admin flows the configuration starts.
func (c LoadConfig) counts() (endUser, admin int) {
	endUser = int(math.Floor(c.Rate * c.Duration.Seconds()))
	if c.AdminRate > 0 {
		admin = int(math.Floor(c.AdminRate * c.Duration.Seconds()))
	}
	return endUser, admin
}

func (c LoadConfig) validate() error {
	var errs []error
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate %v: want a positive number of flows per second", c.Rate))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %v: want a positive duration", c.Duration))
	}
	if err := c.Mix.validate(); err != nil {
		errs = append(errs, err)
	}
	if eu, ad := c.counts(); eu+ad > c.MaxOutcomes {
		errs = append(errs, fmt.Errorf("%d flows at %v/s for %v exceed the record's bound of %d outcomes: lower the rate or the duration",
			eu+ad, c.Rate, c.Duration, c.MaxOutcomes))
	} else if eu == 0 {
		errs = append(errs, fmt.Errorf("rate %v/s for %v starts no flow", c.Rate, c.Duration))
	}
	return errors.Join(errs...)
}

// Progress is a snapshot of a running load.
type Progress struct {
	Elapsed  time.Duration
	Started  int // flows started or refused (end-user and admin)
	OK       int
	Failed   int
	InFlight int
}

// Result is what a load did.
type Result struct {
	Config LoadConfig `json:"-"`
	// Start is the scheduled start of the first flow (t0 of every per-second series);
	// End is when the last flow ended.
	Start, End time.Time
	// WarmupStart is when the warm-up sign-ins began: the command count's window
	// starts there.
	WarmupStart time.Time
	// Scheduled and AdminScheduled are how many flows were due; every one of them has
	// an outcome (started or refused), unless the run was cancelled.
	Scheduled, AdminScheduled int
	Outcomes                  []Outcome // in completion order
	// Commands are the user.signed_in commands the load knows it issued (warm-up
	// included).
	Commands IssuedCommands
	// Users are the usernames the load signed in as (their events are counted).
	Users []string
	// Cancelled is set when ctx ended the run before every flow was started.
	Cancelled bool
}

// IssuedCommands counts the user.signed_in commands a load caused.
type IssuedCommands struct {
	// Issued: password sign-ins whose POST came back with the code (the login process
	// publishes or spools the command before it answers).
	Issued int `json:"issued"`
	// Uncertain: password POSTs that got no answer or a 5xx. The server may have issued
	// the command before failing; the scorecard allows for them (see Commands).
	Uncertain int `json:"uncertain"`
}

// RunLoad runs a load against t until every flow due in cfg.Duration has ended (bounded by
// cfg.Timeout after the last start) or ctx ends. The returned error is about the run
// itself (a bad configuration, a target that failed the warm-up, an output that failed
// to write); failed flows are outcomes, not errors.
func RunLoad(ctx context.Context, t Target, cfg LoadConfig) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	if cfg.RunID == "" {
		cfg.RunID = time.Now().UTC().Format("20060102T150405")
	}
	eu, ad := cfg.counts()
	rec := newOutcomeRecorder(eu+ad, cfg.Out)
	c, err := newLoadClient(ctx, t, cfg.Timeout, cfg.MaxInFlight+cfg.AdminMaxInFlight)
	if err != nil {
		return nil, err
	}
	defer c.close()
	c.runID = cfg.RunID
	res := &Result{Config: cfg, WarmupStart: time.Now(), Users: t.usernames()}
	if err := c.warmup(ctx, cfg.Warmup); err != nil {
		res.Commands = c.commands()
		return res, err
	}
	res.Start = time.Now().Add(50 * time.Millisecond) // leave the schedulers time to start
	run := &loadRun{ctx: ctx, start: res.Start, rec: rec, c: c}
	var wg sync.WaitGroup
	pick := newFlowPicker(cfg.Mix) // used by the end-user scheduler's goroutine only
	wg.Go(func() {
		res.Scheduled = run.schedule(eu, cfg.Rate, cfg.MaxInFlight, func(int) Flow { return pick.next() })
	})
	if ad > 0 {
		wg.Go(func() {
			res.AdminScheduled = run.schedule(ad, cfg.AdminRate, cfg.AdminMaxInFlight, func(i int) Flow {
				if i%cfg.AdminCreateEvery == cfg.AdminCreateEvery-1 {
					return FlowAdminCreate
				}
				return FlowAdminList
			})
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	run.report(done, cfg.Progress)
	res.End = time.Now()
	res.Outcomes = rec.outcomes()
	res.Commands = c.commands()
	res.Cancelled = res.Scheduled < eu || res.AdminScheduled < ad
	if err := rec.err(); err != nil {
		return res, fmt.Errorf("writing outcomes: %w", err)
	}
	return res, nil
}

// loadRun is a running load's schedulers.
type loadRun struct {
	ctx      context.Context
	start    time.Time
	rec      *outcomeRecorder
	c        *loadClient
	started  atomic.Int64 // flows due so far (started or refused)
	inFlight atomic.Int64
}

// schedule starts n flows at rate per second from r.start, flow i being flowOf(i), with
// at most slots running at once: a flow due while every slot is taken is recorded as
// an overload failure and not started. It returns when every started flow has ended
// (or ctx ended the schedule) with how many flows were due.
func (r *loadRun) schedule(n int, rate float64, slots int, flowOf func(i int) Flow) (due int) {
	sem := make(chan struct{}, slots)
	var flows sync.WaitGroup
	defer flows.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range n {
		at := r.start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-r.ctx.Done():
				return i
			}
		} else if r.ctx.Err() != nil {
			return i
		}
		r.started.Add(1)
		f := flowOf(i)
		select {
		case sem <- struct{}{}:
		default:
			r.rec.record(Outcome{Seq: i, Flow: f, Start: at, Lag: time.Since(at), Class: ClassOverload,
				Err: fmt.Sprintf("%d flows in flight: not started", slots)})
			continue
		}
		r.inFlight.Add(1)
		flows.Go(func() {
			defer func() { <-sem; r.inFlight.Add(-1) }()
			r.rec.record(r.c.do(r.ctx, f, at, i))
		})
	}
	return n
}

// report calls progress (if set) every second until done is closed, then returns.
func (r *loadRun) report(done <-chan struct{}, progress func(Progress)) {
	if progress == nil {
		<-done
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			ok, failed := r.rec.counts()
			progress(Progress{Elapsed: now.Sub(r.start).Round(time.Second), Started: int(r.started.Load()),
				OK: ok, Failed: failed, InFlight: int(r.inFlight.Load())})
		}
	}
}

// Target is a nines deployment the load runs against: one tenant's issuer at the
// public entry point, the address that entry point's host name leads to, the admin
// API, the client and users to act as.
type Target struct {
	// Issuer is the tenant's issuer ({public base}/t/{tenant}); discovery is fetched
	// from it and must name it.
	Issuer string
	// Dial is the address ("host:port") the load connects to whenever a URL names the
	// issuer's host and port, as a resolver (GeoDNS) sending its users to a region's
	// edge would: every request of the end-user flows (discovery, authorize, the login
	// pages' absolute URLs and redirects, token, userinfo) goes there while URLs, Host
	// headers and the issuer stay the public ones. Empty: dial what the URL says.
	// Admin API requests are never redirected: they go to AdminURL as it says.
	Dial       string
	AdminURL   string // the admin API's base URL (…/admin/v1 is appended)
	AdminToken string
	Tenant     string
	Client     Client
	Users      []User
}

func (t Target) validate() error {
	var errs []error
	for _, u := range []struct{ name, v string }{{"issuer", t.Issuer}, {"admin URL", t.AdminURL}} {
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("target: %s %q is not an http(s) URL", u.name, u.v))
		}
	}
	if t.Dial != "" {
		if host, port, err := net.SplitHostPort(t.Dial); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("target: dial address %q is not host:port", t.Dial))
		}
	}
	if t.AdminToken == "" {
		errs = append(errs, errors.New("target: no admin token"))
	}
	if t.Tenant == "" {
		errs = append(errs, errors.New("target: no tenant"))
	}
	if t.Client.ID == "" || t.Client.Secret == "" || t.Client.RedirectURI == "" {
		errs = append(errs, errors.New("target: the client needs an ID, a secret and a redirect URI"))
	}
	if len(t.Users) == 0 {
		errs = append(errs, errors.New("target: no users to sign in as"))
	}
	for i, u := range t.Users {
		if u.Username == "" || u.Password == "" {
			errs = append(errs, fmt.Errorf("target: user %d has no username or no password", i))
		}
	}
	return errors.Join(errs...)
}

func (t Target) usernames() []string {
	var out []string
	for _, u := range t.Users {
		if !slices.Contains(out, u.Username) {
			out = append(out, u.Username)
		}
	}
	return out
}

// TargetFromState is the target of a running lab for the users of region (the
// primary region when empty): the tenant's one issuer, at the lab's public URL, dialled
// at that region's edge (Target.Dial, as GeoDNS would send the region's users there),
// and the lab's admin API (the primary region's edge), client and users.
func TargetFromState(s State, region string) (Target, error) {
	var reg *Region
	for i, r := range s.Regions {
		if (region == "" && r.Primary) || (region != "" && r.Name == region) {
			reg = &s.Regions[i]
			break
		}
	}
	if reg == nil && region == "" && len(s.Regions) > 0 {
		reg = &s.Regions[0]
	}
	if reg == nil || reg.EdgeURL == "" {
		return Target{}, fmt.Errorf("lab %s: no edge URL for region %q", s.Name, region)
	}
	edge, err := url.Parse(reg.EdgeURL)
	if err != nil || edge.Host == "" {
		return Target{}, fmt.Errorf("lab %s: region %s: edge URL %q is not an absolute URL", s.Name, reg.Name, reg.EdgeURL)
	}
	t := Target{Issuer: s.issuer(*reg), Dial: hostPort(edge), AdminURL: s.AdminURL,
		AdminToken: s.AdminToken, Tenant: s.Tenant, Client: s.Client, Users: s.Users}
	return t, t.validate()
}

// issuer is the tenant's issuer as reg's login processes name it: the region's Issuer,
// or (a state without one) {PublicURL}/t/{Tenant}, the public URL being the primary
// region's edge when the state does not name it.
func (s State) issuer(reg Region) string {
	if reg.Issuer != "" {
		return strings.TrimSuffix(reg.Issuer, "/")
	}
	public := s.PublicURL
	for i := 0; public == "" && i < len(s.Regions); i++ {
		if s.Regions[i].Primary {
			public = s.Regions[i].EdgeURL
		}
	}
	if public == "" && len(s.Regions) > 0 {
		public = s.Regions[0].EdgeURL
	}
	return strings.TrimSuffix(public, "/") + "/t/" + s.Tenant
}

// hostPort is the address a client dials for u: its host and port, the scheme's
// default port when u names none (the form http.Transport passes to DialContext).
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// TenantOfIssuer returns the tenant slug of an issuer of the form …/t/{tenant}.
func TenantOfIssuer(issuer string) (string, bool) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", false
	}
	dir, slug, ok := strings.Cut(strings.TrimSuffix(u.Path, "/"), "/t/")
	if !ok || slug == "" || strings.Contains(slug, "/") || strings.Contains(dir, "/t/") {
		return "", false
	}
	return slug, true
}
