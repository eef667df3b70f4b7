package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ninesid/nines/internal/lab"
	"github.com/ninesid/nines/internal/proc"
)

// Environment variables of `nines lab load` (secrets never go on the command line: ps
// and shell history would show them). The two of the load alone are NINESLAB_, not
// NINES_: `nines serve` refuses NINES_ variables it does not know, and a shell that
// runs both must not break the server.
const (
	adminTokenEnv   = "NINES_ADMIN_TOKEN"
	clientSecretEnv = "NINESLAB_CLIENT_SECRET"
	loadPasswordEnv = "NINESLAB_PASSWORD"
)

// labLoadCmd is `nines lab load`: a mixed end-user and admin load at a fixed rate for
// a bounded time, against a running lab (--lab) or any nines deployment (--issuer, or
// --provision on a test deployment), then its scorecard.
type labLoadCmd struct {
	Lab    string `name:"lab" help:"Directory of a running lab: its lab.json names the edge, tenant, client, users and admin API." type:"path"`
	Region string `name:"region" help:"With --lab: the region whose users to play: the load keeps the lab's one public URL and dials that region's edge (default: the primary region)."`

	Issuer      string   `name:"issuer" help:"The tenant's issuer URL ({base}/t/{tenant}) of any nines deployment. The admin token is read from $$NINES_ADMIN_TOKEN, the client secret from $$NINESLAB_CLIENT_SECRET."`
	AdminURL    string   `name:"admin-url" help:"Admin API base URL (default: the issuer's scheme://host)."`
	Tenant      string   `name:"tenant" help:"Tenant slug (default: from the issuer's /t/{tenant}; with --provision: load)."`
	ClientID    string   `name:"client-id" help:"With --issuer: the confidential client (authorization_code, refresh_token and client_credentials grants)."`
	RedirectURI string   `name:"redirect-uri" help:"With --issuer: the client's registered redirect URI (nothing needs to listen there)."`
	Users       []string `name:"user" help:"With --issuer: a username to sign in as (repeatable); the password is $$NINESLAB_PASSWORD."`
	UsersFile   string   `name:"users-file" help:"With --issuer: a file of username:password lines to sign in as." type:"path"`

	Provision bool   `name:"provision" help:"Create (or take over) tenant --tenant, its users and client load through the admin API at --server first. For test deployments only: it resets those users' passwords and that client's secret."`
	Server    string `name:"server" default:"http://127.0.0.1:8080" help:"With --provision: the deployment's base URL."`

	Rate         float64       `name:"rate" default:"20" help:"End-user flows started per second (open loop: on schedule, whatever the latency)."`
	Duration     time.Duration `name:"duration" default:"60s" help:"How long flows are started for."`
	Mix          string        `name:"mix" default:"password=20,sso=20,refresh=20,client_credentials=15,userinfo=25" help:"Relative weights of the end-user flows."`
	AdminRate    float64       `name:"admin-rate" default:"1" help:"Admin requests per second (every 10th creates a group, the others list users); 0 for none."`
	Timeout      time.Duration `name:"timeout" default:"10s" help:"A flow that takes longer fails (class timeout)."`
	MaxInFlight  int           `name:"max-in-flight" default:"256" help:"End-user flows running at once at most; a flow due while all are taken fails at once (class overload)."`
	Warmup       int           `name:"warmup" default:"4" help:"Password sign-ins before the clock starts (sessions and tokens for the other flows)."`
	Out          string        `name:"out" help:"Write every outcome as a JSON line to this file." type:"path"`
	Score        string        `name:"score" help:"Write the scorecard as JSON to this file." type:"path"`
	Chart        string        `name:"chart" help:"Write the incident graph (PNG) to this file." type:"path"`
	Scenario     string        `name:"scenario" help:"Score against this scenario's targets (zone-degraded, primary-down, broker-down, login-cluster-down, rolling-upgrade)."`
	FaultStart   time.Duration `name:"fault-start" help:"When a fault you inject by hand starts, counted from the load's start (0: no fault)."`
	FaultEnd     time.Duration `name:"fault-end" help:"When it ends (0: with the load)."`
	WaitCommands time.Duration `name:"wait-commands" default:"60s" help:"How long to wait for the worker to apply the sign-ins' commands before counting them."`
}

func (c *labLoadCmd) target(ctx context.Context, s streams) (lab.Target, error) {
	modes := 0
	for _, set := range []bool{c.Lab != "", c.Issuer != "", c.Provision} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return lab.Target{}, ctlUsageError{"lab load: give exactly one of --lab DIR, --issuer URL or --provision"}
	}
	switch {
	case c.Lab != "":
		st, err := lab.ReadState(c.Lab)
		if err != nil {
			return lab.Target{}, err
		}
		return lab.TargetFromState(st, c.Region)
	case c.Provision:
		token := strings.TrimSpace(os.Getenv(adminTokenEnv))
		if token == "" {
			return lab.Target{}, ctlUsageError{"lab load --provision: set " + adminTokenEnv + " to a global admin token"}
		}
		fmt.Fprintf(s.stderr, "provisioning tenant %q, users and client through %s …\n", c.tenantOr("load"), c.Server)
		return lab.Provision(ctx, lab.ProvisionConfig{AdminURL: c.Server, AdminToken: token, Tenant: c.tenantOr("load"), RedirectURI: c.RedirectURI})
	}
	t := lab.Target{Issuer: strings.TrimSuffix(c.Issuer, "/"), AdminURL: c.AdminURL, AdminToken: strings.TrimSpace(os.Getenv(adminTokenEnv)),
		Tenant: c.Tenant, Client: lab.Client{ID: c.ClientID, Secret: strings.TrimSpace(os.Getenv(clientSecretEnv)), RedirectURI: c.RedirectURI}}
	if t.Tenant == "" {
		slug, ok := lab.TenantOfIssuer(t.Issuer)
		if !ok {
			return t, ctlUsageError{"lab load: the issuer has no /t/{tenant}: give --tenant"}
		}
		t.Tenant = slug
	}
	if t.AdminURL == "" {
		u, err := url.Parse(t.Issuer)
		if err != nil {
			return t, ctlUsageError{"lab load: --issuer: " + err.Error()}
		}
		t.AdminURL = u.Scheme + "://" + u.Host
	}
	pw := os.Getenv(loadPasswordEnv)
	for _, u := range c.Users {
		if pw == "" {
			return t, ctlUsageError{"lab load: --user needs the password in " + loadPasswordEnv}
		}
		t.Users = append(t.Users, lab.User{Username: u, Password: pw})
	}
	if c.UsersFile != "" {
		us, err := readUsersFile(c.UsersFile)
		if err != nil {
			return t, err
		}
		t.Users = append(t.Users, us...)
	}
	return t, nil
}

func (c *labLoadCmd) tenantOr(def string) string {
	if c.Tenant != "" {
		return c.Tenant
	}
	return def
}

// readUsersFile reads username:password lines (blank lines and # comments skipped).
func readUsersFile(path string) ([]lab.User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []lab.User
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, ":")
		if !ok || name == "" || pw == "" {
			return nil, fmt.Errorf("%s:%d: want username:password", path, n)
		}
		out = append(out, lab.User{Username: name, Password: pw})
	}
	return out, sc.Err()
}

func (c *labLoadCmd) Run(ctx context.Context, s streams) error {
	mix, err := lab.ParseMix(c.Mix)
	if err != nil {
		return ctlUsageError{"lab load: --" + err.Error()}
	}
	if c.FaultEnd != 0 && c.FaultEnd <= c.FaultStart {
		return ctlUsageError{"lab load: --fault-end must come after --fault-start"}
	}
	t, err := c.target(ctx, s)
	if err != nil {
		return err
	}
	adminRate := c.AdminRate
	if adminRate == 0 {
		adminRate = -1 // LoadConfig: negative is none
	}
	warmup := c.Warmup
	if warmup == 0 {
		warmup = -1 // LoadConfig: 0 is the default, negative is none
	}
	cfg := lab.LoadConfig{Rate: c.Rate, Duration: c.Duration, Mix: mix, AdminRate: adminRate, Timeout: c.Timeout,
		MaxInFlight: c.MaxInFlight, Warmup: warmup}
	if c.Out != "" {
		f, err := os.Create(c.Out)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Out = f
	}
	via := ""
	if t.Dial != "" {
		via = " through " + t.Dial
	}
	fmt.Fprintf(s.stdout, "nines lab load: %g flows/s for %v against %s%s (%s), admin %g/s at %s\n",
		c.Rate, c.Duration, t.Issuer, via, mix, max(adminRate, 0), t.AdminURL)
	fmt.Fprintf(s.stdout, "  %d users, client %s; warm-up: %d sign-ins\n", len(t.Users), t.Client.ID, c.Warmup)
	every := max(time.Second, c.Duration/12).Round(time.Second)
	var last time.Duration
	cfg.Progress = func(p lab.Progress) {
		if p.Elapsed-last < every && p.Elapsed < c.Duration {
			return
		}
		last = p.Elapsed
		fmt.Fprintf(s.stdout, "  %6s  started %7d  ok %7d  failed %5d  in flight %4d\n", p.Elapsed, p.Started, p.OK, p.Failed, p.InFlight)
	}
	res, err := lab.RunLoad(ctx, t, cfg)
	if err != nil {
		return fmt.Errorf("lab load: %w", err)
	}
	fmt.Fprintf(s.stdout, "  done: %d flows in %.1f s; waiting up to %v for the worker to apply %d sign-in commands …\n",
		len(res.Outcomes), res.End.Sub(res.Start).Seconds(), c.WaitCommands, res.Commands.Issued)
	var cmds *lab.Commands
	if cc, err := lab.AwaitCommands(ctx, t, res, c.WaitCommands); err != nil {
		fmt.Fprintf(s.stderr, "nines lab load: counting the applied commands: %v\n", err)
	} else {
		cmds = &cc
	}
	var fault lab.FaultWindow
	if c.FaultStart > 0 {
		fault.Start = res.Start.Add(c.FaultStart)
		if c.FaultEnd > 0 {
			fault.End = res.Start.Add(c.FaultEnd)
		}
	}
	card := lab.Score(res, lab.ScoreConfig{Scenario: c.Scenario, Fault: fault, Commands: cmds})
	return writeCard(s, card, c.Score, c.Chart, c.Out)
}

// writeCard prints the card, writes its JSON and chart where asked, and fails when a
// target failed.
func writeCard(s streams, card lab.Scorecard, scorePath, chartPath, outPath string) error {
	fmt.Fprintln(s.stdout)
	if err := card.WriteTable(s.stdout); err != nil {
		return err
	}
	var written []string
	if scorePath != "" {
		if err := card.WriteJSON(scorePath); err != nil {
			return err
		}
		written = append(written, "scorecard "+scorePath)
	}
	if chartPath != "" {
		if err := card.WriteChartFile(chartPath, 0, 0); err != nil {
			return err
		}
		written = append(written, "chart "+chartPath)
	}
	if outPath != "" {
		written = append(written, "outcomes "+outPath)
	}
	if len(written) > 0 {
		fmt.Fprintf(s.stdout, "\nwrote %s\n", strings.Join(written, ", "))
	}
	if !card.Pass {
		failed := 0
		for _, t := range card.Targets {
			if !t.Pass {
				failed++
			}
		}
		return fmt.Errorf("lab load: the scorecard failed %d of %d targets", failed, len(card.Targets))
	}
	return nil
}

// labChaosCmd is `nines lab chaos SCENARIO`: a fault under load against a running lab,
// the documented operator actions, and the scorecard (internal/lab/chaos.go).
type labChaosCmd struct {
	Scenario      string        `arg:"" enum:"zone-degraded,primary-down,replica-down,broker-down,login-cluster-down,region-down,rolling-upgrade" help:"zone-degraded, primary-down, replica-down, broker-down, login-cluster-down, region-down or rolling-upgrade."`
	Duration      time.Duration `name:"duration" default:"2m" help:"How long the load runs; the fault is in the middle (see --split). Each phase needs at least 10s."`
	Split         string        `name:"split" default:"1:1:1" help:"Relative lengths of before the fault : the fault : after it (rolling-upgrade: the fault lasts as long as the upgrade)."`
	Dir           string        `name:"dir" help:"The lab directory (default: $$TMPDIR/nines-lab)." type:"path"`
	Out           string        `name:"out" help:"Directory for scorecard.json, scorecard.txt, chart.png, chaos.json and outcomes.jsonl (default: <dir>/chaos/<scenario>-<time>, removed by lab down)." type:"path"`
	Rate          float64       `name:"rate" default:"20" help:"End-user flows started per second (region-down: split over both regions' edges)."`
	AdminRate     float64       `name:"admin-rate" default:"1" help:"Admin requests per second, through the primary region's edge; 0 for none."`
	Mix           string        `name:"mix" default:"password=20,sso=20,refresh=20,client_credentials=15,userinfo=25" help:"Relative weights of the end-user flows."`
	Timeout       time.Duration `name:"timeout" default:"10s" help:"A flow that takes longer fails (class timeout)."`
	WaitCommands  time.Duration `name:"wait-commands" default:"2m" help:"How long to wait after the load for the worker to apply the sign-ins' commands."`
	Zone          string        `name:"zone" help:"zone-degraded: the zone of the primary region (default: its second zone)."`
	Toxicity      float64       `name:"toxicity" default:"0.15" help:"zone-degraded: the share of connections into and out of the zone that time out."`
	DrainAfter    time.Duration `name:"drain-after" help:"zone-degraded: also drain the zone on every edge (nines ctl edge drain --zone) this long after the fault began; 0: no operator action."`
	Cluster       string        `name:"cluster" help:"login-cluster-down: the cluster (default: the primary region's first)."`
	Region        string        `name:"region" help:"region-down: the secondary region lost (default: the last)."`
	FailoverAfter time.Duration `name:"failover-after" default:"5s" help:"region-down: when the operator fails the region over (nines ctl edge failover), after the loss."`
	EntryEdge     bool          `name:"restart-entry-edge" help:"rolling-upgrade: also restart the edge the load enters through (an outage of the load's only entry point: the lab has no balancer in front of it)."`
}

func (c *labChaosCmd) Run(ctx context.Context, s streams) error {
	split, err := lab.ParseSplit(c.Split)
	if err != nil {
		return ctlUsageError{"lab chaos: --" + err.Error()}
	}
	mix, err := lab.ParseMix(c.Mix)
	if err != nil {
		return ctlUsageError{"lab chaos: --" + err.Error()}
	}
	dir := c.Dir
	if dir == "" {
		dir = lab.DefaultDir()
	}
	st, err := lab.ReadState(dir)
	if err != nil {
		return err
	}
	adminRate := c.AdminRate
	if adminRate == 0 {
		adminRate = -1 // LoadConfig: negative is none
	}
	cfg := lab.ChaosConfig{Scenario: c.Scenario, Duration: c.Duration, Split: split, Rate: c.Rate, AdminRate: adminRate, Mix: mix,
		Timeout: c.Timeout, OutDir: c.Out, WaitCommands: c.WaitCommands, Zone: c.Zone, Toxicity: c.Toxicity,
		DrainAfter: c.DrainAfter, Cluster: c.Cluster, Region: c.Region, FailoverAfter: c.FailoverAfter,
		RestartEntryEdge: c.EntryEdge, Log: s.stdout}
	rep, err := lab.RunChaos(ctx, st, cfg)
	if err != nil {
		if rep == nil {
			return fmt.Errorf("lab chaos: %w", err)
		}
		fmt.Fprintf(s.stderr, "nines lab chaos: %v\n", err)
	}
	fmt.Fprintln(s.stdout)
	if werr := rep.WriteTable(s.stdout); werr != nil {
		return werr
	}
	fmt.Fprintf(s.stdout, "\nwrote %s\n", strings.Join(rep.Files, ", "))
	if err != nil {
		return fmt.Errorf("lab chaos: %w", err)
	}
	if !rep.Card.Pass {
		failed := 0
		for _, t := range rep.Card.Targets {
			if !t.Pass {
				failed++
			}
		}
		return fmt.Errorf("lab chaos %s: the scorecard failed %d of %d targets", c.Scenario, failed, len(rep.Card.Targets))
	}
	return nil
}

// labBenchCmd is `nines lab bench`: throughput and latency per flow on an all process
// it starts itself (and a lab's topology with --lab), against same-run baselines.
type labBenchCmd struct {
	Lab         string        `name:"lab" help:"Also measure this running lab's topology (through the primary region's edge)." type:"path"`
	NoAll       bool          `name:"no-all" help:"Do not start and measure an all process."`
	Concurrency []int         `name:"concurrency" default:"1,4,16" sep:"," help:"Closed-loop clients per step."`
	Step        time.Duration `name:"step" default:"2s" help:"How long each step (flow × clients) runs."`
	MaxTime     time.Duration `name:"max-time" default:"10m" help:"Bound on the whole benchmark; steps past it are skipped."`
	Flows       []string      `name:"flows" sep:"," help:"Flows to measure (default: password, sso, refresh, client_credentials, userinfo)."`
	Baselines   []string      `name:"baselines" sep:"," help:"Baselines to measure (default: hello, argon2id, rs256_sign, es256_sign)."`
	JSON        string        `name:"json" help:"Also write the report as JSON to this file." type:"path"`
}

func (c *labBenchCmd) Run(ctx context.Context, s streams) error {
	cfg := lab.BenchConfig{Concurrency: c.Concurrency, Step: c.Step, MaxTime: c.MaxTime, Baselines: c.Baselines, Progress: s.stderr}
	for _, f := range c.Flows {
		cfg.Flows = append(cfg.Flows, lab.Flow(strings.TrimSpace(f)))
	}
	for _, f := range cfg.Flows {
		if !slices.Contains(lab.EndUserFlows, f) {
			return ctlUsageError{fmt.Sprintf("lab bench: --flows: %q is not one of %v", f, lab.EndUserFlows)}
		}
	}
	if c.NoAll && c.Lab == "" {
		fmt.Fprintln(s.stderr, "nines lab bench: --no-all without --lab: baselines only")
	}
	if !c.NoAll {
		t, stop, err := startBenchAll(ctx, s)
		if err != nil {
			return err
		}
		defer stop()
		cfg.Targets = append(cfg.Targets, lab.BenchTarget{Name: "all", Target: t})
	}
	if c.Lab != "" {
		st, err := lab.ReadState(c.Lab)
		if err != nil {
			return err
		}
		t, err := lab.TargetFromState(st, "")
		if err != nil {
			return err
		}
		cfg.Targets = append(cfg.Targets, lab.BenchTarget{Name: "lab", Target: t})
	}
	baselines, flows := len(cfg.Baselines), len(cfg.Flows)
	if cfg.Baselines == nil {
		baselines = len(lab.AllBaselines)
	}
	if cfg.Flows == nil {
		flows = len(lab.EndUserFlows)
	}
	// A flow's step is bracketed by half a step of its bound before and after.
	estimate := time.Duration(baselines*len(c.Concurrency)+2*len(cfg.Targets)*flows*len(c.Concurrency)) * c.Step
	fmt.Fprintf(s.stderr, "nines lab bench: about %v (steps of %v, at most %v) …\n", min(estimate, c.MaxTime), c.Step, c.MaxTime)
	rep, err := lab.Bench(ctx, cfg)
	if err != nil {
		return fmt.Errorf("lab bench: %w", err)
	}
	fmt.Fprintln(s.stdout)
	if err := rep.WriteTable(s.stdout); err != nil {
		return err
	}
	if c.JSON != "" {
		if err := rep.WriteJSON(c.JSON); err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "\nwrote %s\n", c.JSON)
	}
	return nil
}

// startBenchAll starts this binary as `nines serve --role=all` on a free loopback port
// with a data directory of its own, provisions the load's tenant on it, and returns the
// target and what stops the process and removes the directory.
func startBenchAll(ctx context.Context, s streams) (lab.Target, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return lab.Target{}, nil, err
	}
	dir, err := os.MkdirTemp("", "nines-bench-")
	if err != nil {
		return lab.Target{}, nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		os.RemoveAll(dir)
		return lab.Target{}, nil, err
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	token := hex.EncodeToString(tok)
	p, err := proc.Start(proc.Config{Name: "nines all (bench)", Path: exe, Args: []string{"serve", "--role=all"},
		Env: []string{"NINES_HTTP_ADDR=" + addr, "NINES_DATA_DIR=" + filepath.Join(dir, "data"), "NINES_BOOTSTRAP_ADMIN_TOKEN=" + token,
			"NINES_LOG_LEVEL=warn"},
		Dir: dir, ReadyURL: "http://" + addr + "/readyz"})
	if err != nil {
		os.RemoveAll(dir)
		return lab.Target{}, nil, err
	}
	stop := func() {
		if err := p.Stop(); err != nil {
			fmt.Fprintf(s.stderr, "nines lab bench: stopping the all process: %v\n", err)
		}
		os.RemoveAll(dir)
	}
	fmt.Fprintf(s.stderr, "nines lab bench: started an all process (pid %d) at http://%s\n", p.PID(), addr)
	if err := p.WaitReady(ctx); err != nil {
		stop()
		return lab.Target{}, nil, err
	}
	t, err := lab.Provision(ctx, lab.ProvisionConfig{AdminURL: "http://" + addr, AdminToken: token, Users: 16})
	if err != nil {
		stop()
		return lab.Target{}, nil, err
	}
	return t, stop, nil
}

// freeLoopbackAddr is a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
