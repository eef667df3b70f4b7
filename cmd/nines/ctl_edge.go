package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/edge"
)

// edgeTokenEnv holds the edge control token for `nines ctl edge` (never a flag: it would
// show in ps and in shell history).
const edgeTokenEnv = "NINES_EDGE_CONTROL_TOKEN"

// edgeCmd is `nines ctl edge …`: the traffic-control API of one or more edges.
type edgeCmd struct {
	Status      edgeStatusCmd   `cmd:"" help:"Show clusters, weights, health, load, ejections, drains, failovers and recent events."`
	Events      edgeEventsCmd   `cmd:"" help:"List the edge's events: changes (the audit trail), health (ejections) and reloads."`
	Weights     edgeWeightsCmd  `cmd:"" help:"Set cluster weights of a region: 'nines ctl edge weights login-a=10 login-b=90'."`
	Shift       edgeShiftCmd    `cmd:"" help:"Shift a region's traffic to (or away from) a cluster gradually: --step points every --interval, each step pre-scale checked."`
	CancelShift edgeCancelCmd   `cmd:"" name:"cancel-shift" help:"Stop a running shift where it is."`
	Drain       edgeDrainCmd    `cmd:"" help:"Drain a cluster (--cluster) or a zone (--zone) of a region: it gets no traffic until undrained, across restarts and scaling."`
	Undrain     edgeUndrainCmd  `cmd:"" help:"Bring a drained cluster or zone back."`
	Failover    edgeFailoverCmd `cmd:"" help:"Send a region's login traffic to another region, after checking that the target can take it."`
	Failback    edgeFailbackCmd `cmd:"" help:"End a region failover: the region's login traffic comes home."`
	Undo        edgeUndoCmd     `cmd:"" help:"Restore the state before the last change (a whole shift counts as one)."`
	Reload      edgeReloadCmd   `cmd:"" help:"Reload the routing file now (a file with problems is refused and the running table kept)."`
}

// edgeConn is the flags every edge command has.
type edgeConn struct {
	Server  []string      `name:"server" default:"http://127.0.0.1:8081" help:"Control API base URL of the edge (NINES_EDGE_CONTROL_ADDR); repeat or comma-separate for every edge of a fleet: a change is made on each in turn." sep:","`
	Timeout time.Duration `name:"timeout" default:"10s" help:"Give up on an edge after this long."`
	JSON    bool          `name:"json" help:"Print the API's JSON answers instead of text."`
}

// edgeChange is the flags every change has.
type edgeChange struct {
	Reason string `name:"reason" help:"Why (kept in the audit event; at most 200 bytes)."`
	Force  bool   `name:"force" help:"Make the change even when the pre-scale check says the target cannot take the load."`
}

func (c edgeChange) body(m map[string]any) map[string]any {
	if c.Reason != "" {
		m["reason"] = c.Reason
	}
	if c.Force {
		m["force"] = true
	}
	return m
}

// edgeClient talks to one edge.
type edgeClient struct {
	base, token string
	hc          *http.Client
}

func (ec edgeConn) clients() ([]edgeClient, error) {
	token := strings.TrimSpace(os.Getenv(edgeTokenEnv))
	if token == "" {
		return nil, ctlUsageError{"edge: no control token: set " + edgeTokenEnv + " (the edge's NINES_EDGE_CONTROL_TOKEN)"}
	}
	var out []edgeClient
	for _, s := range ec.Server {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		base, err := edgeServer(s)
		if err != nil {
			return nil, err
		}
		out = append(out, edgeClient{base: base, token: token,
			hc: &http.Client{Timeout: ec.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}})
	}
	if len(out) == 0 {
		return nil, ctlUsageError{"edge: --server: give the control API URL of at least one edge"}
	}
	return out, nil
}

// edgeServer checks a control API URL: no credentials, plain http only on loopback (the
// token goes with every request).
func edgeServer(s string) (string, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/"):
		return "", ctlUsageError{fmt.Sprintf("edge: --server %q must be a base URL such as http://127.0.0.1:8081", s)}
	case u.User != nil:
		return "", ctlUsageError{"edge: --server must not hold credentials; the token comes from " + edgeTokenEnv}
	case u.Scheme == "http" && !client.IsLoopbackHost(u.Hostname()):
		return "", ctlUsageError{fmt.Sprintf("edge: refusing to send the control token in clear text to %s; use https", u.Host)}
	}
	return u.Scheme + "://" + u.Host, nil
}

// edgeError is an answer other than success, with the problem's detail and, for a
// pre-scale refusal, the check.
type edgeError struct {
	server string
	status int
	p      edgeProblem
}

type edgeProblem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Detail    string            `json:"detail"`
	RequestID string            `json:"request_id"`
	Errors    []map[string]any  `json:"errors"`
	Check     *edge.CheckResult `json:"check"`
}

func (e *edgeError) Error() string {
	msg := fmt.Sprintf("edge %s: HTTP %d", e.server, e.status)
	if e.status == http.StatusUnauthorized {
		msg += ": the edge rejected the token; check " + edgeTokenEnv
	}
	if e.p.Detail != "" {
		msg += ": " + e.p.Detail
	}
	for _, fe := range e.p.Errors {
		if d, ok := fe["detail"].(string); ok && !strings.Contains(msg, d) {
			msg += "; " + d
		}
	}
	return msg
}

// do sends one request and decodes a 2xx answer into out (raw JSON into *json.RawMessage).
func (c edgeClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("edge %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("edge %s: reading the answer: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &edgeError{server: c.base, status: resp.StatusCode}
		_ = json.Unmarshal(raw, &e.p)
		return e
	}
	if rm, ok := out.(*json.RawMessage); ok {
		*rm = append((*rm)[:0], raw...)
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("edge %s: the answer is not what this version of nines expects: %w", c.base, err)
	}
	return nil
}

// change sends the same change to every edge in turn and prints each result. It stops
// at the first edge that refuses: the ones before it made the change (undo there), the
// ones after were not asked.
func change(ctx context.Context, ec edgeConn, s streams, method, path string, body map[string]any) error {
	cs, err := ec.clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ec.Timeout*time.Duration(len(cs)))
	defer cancel()
	for i, c := range cs {
		var raw json.RawMessage
		if err := c.do(ctx, method, path, body, &raw); err != nil {
			var ee *edgeError
			if errors.As(err, &ee) && ee.p.Check != nil {
				printCheck(s.stderr, ee.p.Check)
			}
			if i > 0 {
				done := make([]string, 0, i)
				for _, d := range cs[:i] {
					done = append(done, d.base)
				}
				return fmt.Errorf("%w\n(made on %s; not sent to the edges after it: repeat there, or undo on those)", err, strings.Join(done, ", "))
			}
			return err
		}
		if ec.JSON {
			fmt.Fprintln(s.stdout, string(raw))
			continue
		}
		var cr edge.ChangeResult
		if json.Unmarshal(raw, &cr) == nil && cr.Action != "" {
			fmt.Fprintf(s.stdout, "%s: %s %s: %s (event %d)\n", c.base, cr.Action, cr.Target, cr.Result, cr.Event)
			if cr.Check != nil {
				printCheck(s.stdout, cr.Check)
			}
			continue
		}
		fmt.Fprintf(s.stdout, "%s: %s\n", c.base, strings.TrimSpace(string(raw)))
	}
	return nil
}

func printCheck(w io.Writer, c *edge.CheckResult) {
	verdict := "passed"
	switch {
	case c.Forced:
		verdict = "FAILED (forced)"
	case !c.OK:
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "pre-scale check %s:\n", verdict)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLUSTER\tLOAD RPS\tAFTER RPS\tCAPACITY RPS\t")
	for _, cc := range c.Clusters {
		mark := ""
		if !cc.OK {
			mark = "over capacity"
		}
		fmt.Fprintf(tw, "  %s/%s\t%.1f\t%.1f\t%.1f\t%s\n", cc.Region, cc.Cluster, cc.LoadRPS, cc.AfterRPS, cc.CapacityRPS, mark)
	}
	_ = tw.Flush()
	for _, r := range c.Edges {
		if !r.OK {
			fmt.Fprintf(w, "  edge %s (%s) did not report: %s\n", r.URL, r.Region, r.Error)
		}
	}
	for _, p := range c.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

type edgeStatusCmd struct {
	edgeConn `embed:""`
}

func (c *edgeStatusCmd) Run(ctx context.Context, s streams) error {
	cs, err := c.clients()
	if err != nil {
		return err
	}
	for _, cl := range cs {
		rctx, cancel := context.WithTimeout(ctx, c.Timeout)
		var raw json.RawMessage
		err := cl.do(rctx, http.MethodGet, "/v1/status", nil, &raw)
		cancel()
		if err != nil {
			return err
		}
		if c.JSON {
			fmt.Fprintln(s.stdout, string(raw))
			continue
		}
		var st edge.Status
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("edge %s: the status is not what this version of nines expects: %w", cl.base, err)
		}
		printStatus(s.stdout, cl.base, st)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printStatus(w io.Writer, server string, st edge.Status) {
	fmt.Fprintf(w, "edge %s — region %s, started %s, routes %s\n", server, st.Region, st.Started.Format(time.RFC3339), st.RoutesFile)
	shard := ""
	for _, r := range st.Regions {
		if r.Shard != shard {
			shard = r.Shard
			fmt.Fprintf(w, "shard %s\n", shard)
		}
		role := "secondary"
		if r.Primary {
			role = "primary"
		}
		order := "not used by this edge"
		if r.Order >= 0 {
			order = "choice " + strconv.Itoa(r.Order+1)
		}
		line := fmt.Sprintf("  region %s (%s, %s): available %s", r.Name, role, order, yesNo(r.Available))
		if r.FailedOverTo != "" {
			line += ", FAILED OVER to " + r.FailedOverTo
		}
		fmt.Fprintln(w, line)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    CLUSTER\tWEIGHT\tSHARE\tAVAILABLE\tDRAINED\tEJECTED\tRPS\tERRORS\tCAPACITY\tEJECTIONS\t")
		for _, c := range r.Clusters {
			weight := strconv.Itoa(c.Weight)
			if c.Weight != c.TableWeight {
				weight += " (table " + strconv.Itoa(c.TableWeight) + ")"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%.0f%%\t%s\t%s\t%s\t%.1f\t%.1f%%\t%.0f\t%d\t\n", c.Name, weight, c.SharePercent, yesNo(c.Available),
				yesNo(c.Drained), yesNo(c.Ejected), c.RPS, 100*c.ErrorRate, c.CapacityRPS, c.Ejections)
		}
		_ = tw.Flush()
		for _, c := range r.Clusters {
			printBackends(w, "      "+c.Name+" ", c.Backends)
			names := make([]string, 0, len(c.Services))
			for n := range c.Services {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				printBackends(w, "      "+c.Name+"/"+n+" ", c.Services[n])
			}
		}
		if len(r.Admin) > 0 {
			printBackends(w, "      admin ", r.Admin)
		}
	}
	o := st.Overrides
	if len(o.DrainedClusters)+len(o.DrainedZones) > 0 {
		fmt.Fprintf(w, "drained: clusters %v, zones %v\n", o.DrainedClusters, o.DrainedZones)
	}
	for from, to := range o.Failovers {
		fmt.Fprintf(w, "failover: %s -> %s\n", from, to)
	}
	if sh := st.Shift; sh != nil {
		fmt.Fprintf(w, "shift: %s/%s %d%% -> %d%% by %d every %s: at %d%%, %s %s\n", sh.Region, sh.Cluster, sh.FromPercent, sh.ToPercent,
			sh.Step, sh.Interval, sh.CurrentPercent, sh.State, sh.Detail)
	}
	fmt.Fprintf(w, "undo depth %d, retry budget %.1f tokens\n", st.UndoDepth, st.RetryTokens)
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "recent events:")
		for _, e := range st.Events {
			printEvent(w, e)
		}
	}
}

func printBackends(w io.Writer, prefix string, bs []edge.BackendStatus) {
	for _, b := range bs {
		state := "up"
		switch {
		case b.ZoneDrained:
			state = "zone drained"
		case !b.Healthy:
			state = "UNHEALTHY " + b.ProbeError
		case b.Ejected:
			state = "EJECTED"
			if b.EjectedUntil != nil {
				state += " until " + b.EjectedUntil.Format(time.TimeOnly)
			}
		}
		fmt.Fprintf(w, "%s%s zone %s: %s; %.1f rps, %.1f%% errors, %d outstanding, %d ejections\n", prefix, b.URL, b.Zone, state,
			b.RPS, 100*b.ErrorRate, b.Outstanding, b.Ejections)
	}
}

func printEvent(w io.Writer, e edge.Event) {
	line := fmt.Sprintf("  #%d %s %s %s %s: %s", e.Seq, e.At.Format(time.RFC3339), e.Kind, e.Action, e.Target, e.Result)
	if e.Reason != "" {
		line += " (reason: " + e.Reason + ")"
	}
	if e.Remote != "" {
		line += " by " + e.Remote
	}
	if e.Detail != "" {
		line += " — " + e.Detail
	}
	fmt.Fprintln(w, line)
}

type edgeEventsCmd struct {
	edgeConn `embed:""`
	Kind     string `name:"kind" enum:",change,health,reload" default:"" help:"Only change, health or reload events."`
	Limit    int    `name:"limit" default:"50" help:"At most this many, the newest."`
}

func (c *edgeEventsCmd) Run(ctx context.Context, s streams) error {
	cs, err := c.clients()
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(c.Limit)}}
	if c.Kind != "" {
		q.Set("kind", c.Kind)
	}
	for _, cl := range cs {
		rctx, cancel := context.WithTimeout(ctx, c.Timeout)
		var raw json.RawMessage
		err := cl.do(rctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, &raw)
		cancel()
		if err != nil {
			return err
		}
		if c.JSON {
			fmt.Fprintln(s.stdout, string(raw))
			continue
		}
		var out struct {
			Events []edge.Event `json:"events"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("edge %s: %w", cl.base, err)
		}
		fmt.Fprintf(s.stdout, "edge %s:\n", cl.base)
		for _, e := range out.Events {
			printEvent(s.stdout, e)
		}
	}
	return nil
}

type edgeWeightsCmd struct {
	edgeConn   `embed:""`
	edgeChange `embed:""`
	Region     string   `name:"region" help:"The region (default: the edge's own)."`
	Weights    []string `arg:"" help:"cluster=weight, each from 0 to 1000 (relative: 10 and 90 send 10% and 90%)."`
}

func (c *edgeWeightsCmd) Run(ctx context.Context, s streams) error {
	ws := map[string]int{}
	for _, a := range c.Weights {
		name, v, ok := strings.Cut(a, "=")
		n, err := strconv.Atoi(v)
		if !ok || name == "" || err != nil {
			return ctlUsageError{fmt.Sprintf("edge weights: %q: want cluster=weight, e.g. login-a=10", a)}
		}
		ws[name] = n
	}
	return change(ctx, c.edgeConn, s, http.MethodPut, "/v1/weights", c.body(map[string]any{"region": c.Region, "weights": ws}))
}

type edgeShiftCmd struct {
	edgeConn   `embed:""`
	edgeChange `embed:""`
	Region     string        `name:"region" help:"The region (default: the edge's own)."`
	Cluster    string        `name:"cluster" required:"" help:"The cluster whose share changes."`
	To         int           `name:"to" default:"100" help:"Its share at the end, in percent of the region (0 shifts traffic away from it)."`
	Step       int           `name:"step" default:"10" help:"Percentage points per step."`
	Interval   time.Duration `name:"interval" default:"30s" help:"Time between steps."`
	Detach     bool          `name:"detach" help:"Start the shift and return; follow it with 'nines ctl edge status'."`
}

func (c *edgeShiftCmd) Run(ctx context.Context, s streams) error {
	if c.To < 0 || c.To > 100 || c.Step < 1 || c.Step > 100 {
		return ctlUsageError{"edge shift: --to is from 0 to 100 and --step from 1 to 100"}
	}
	body := c.body(map[string]any{"region": c.Region, "cluster": c.Cluster, "to_percent": c.To, "step": c.Step,
		"interval": c.Interval.String()})
	cs, err := c.clients()
	if err != nil {
		return err
	}
	for _, cl := range cs {
		rctx, cancel := context.WithTimeout(ctx, c.Timeout)
		var st edge.ShiftStatus
		err := cl.do(rctx, http.MethodPost, "/v1/shift", body, &st)
		cancel()
		if err != nil {
			var ee *edgeError
			if errors.As(err, &ee) && ee.p.Check != nil {
				printCheck(s.stderr, ee.p.Check)
			}
			return err
		}
		fmt.Fprintf(s.stdout, "%s: shifting %s/%s from %d%% to %d%% by %d every %s; now at %d%%\n", cl.base, st.Region, st.Cluster,
			st.FromPercent, st.ToPercent, st.Step, st.Interval, st.CurrentPercent)
	}
	if c.Detach {
		return nil
	}
	// Follow until every edge is done, bounded by the steps the shift can take.
	steps := 100/c.Step + 2
	deadline := time.Now().Add(time.Duration(steps)*c.Interval + 30*time.Second)
	last := map[string]int{}
	for time.Now().Before(deadline) {
		allDone := true
		for _, cl := range cs {
			rctx, cancel := context.WithTimeout(ctx, c.Timeout)
			var st edge.Status
			err := cl.do(rctx, http.MethodGet, "/v1/status", nil, &st)
			cancel()
			if err != nil {
				return fmt.Errorf("%w (the shift goes on on the edge; follow it with 'nines ctl edge status')", err)
			}
			sh := st.Shift
			if sh == nil {
				return fmt.Errorf("edge %s: the shift is gone (an operator changed the weights or undid it)", cl.base)
			}
			if p, ok := last[cl.base]; !ok || p != sh.CurrentPercent {
				fmt.Fprintf(s.stdout, "%s: %s/%s at %d%% (%s)\n", cl.base, sh.Region, sh.Cluster, sh.CurrentPercent, sh.State)
				last[cl.base] = sh.CurrentPercent
			}
			switch sh.State {
			case "done":
			case "running":
				allDone = false
			default:
				return fmt.Errorf("edge %s: the shift stopped at %d%%: %s %s", cl.base, sh.CurrentPercent, sh.State, sh.Detail)
			}
		}
		if allDone {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following; the shift goes on on the edge: %w", ctx.Err())
		case <-time.After(min(c.Interval/2+10*time.Millisecond, time.Second)):
		}
	}
	return errors.New("edge shift: still running after the time its steps should take; see 'nines ctl edge status'")
}

type edgeCancelCmd struct {
	edgeConn `embed:""`
}

func (c *edgeCancelCmd) Run(ctx context.Context, s streams) error {
	return change(ctx, c.edgeConn, s, http.MethodDelete, "/v1/shift", nil)
}

type edgeTarget struct {
	Region  string `name:"region" help:"The region (default: the edge's own)."`
	Cluster string `name:"cluster" xor:"target" required:"" help:"A login cluster of the region."`
	Zone    string `name:"zone" xor:"target" required:"" help:"An availability zone of the region: every backend in it, of every cluster and the admin tier."`
}

func (t edgeTarget) body(m map[string]any) map[string]any {
	m["region"] = t.Region
	if t.Cluster != "" {
		m["cluster"] = t.Cluster
	} else {
		m["zone"] = t.Zone
	}
	return m
}

type edgeDrainCmd struct {
	edgeConn   `embed:""`
	edgeChange `embed:""`
	edgeTarget `embed:""`
}

func (c *edgeDrainCmd) Run(ctx context.Context, s streams) error {
	return change(ctx, c.edgeConn, s, http.MethodPost, "/v1/drain", c.edgeChange.body(c.edgeTarget.body(map[string]any{})))
}

type edgeUndrainCmd struct {
	edgeConn   `embed:""`
	edgeChange `embed:""`
	edgeTarget `embed:""`
}

func (c *edgeUndrainCmd) Run(ctx context.Context, s streams) error {
	return change(ctx, c.edgeConn, s, http.MethodPost, "/v1/undrain", c.edgeChange.body(c.edgeTarget.body(map[string]any{})))
}

type edgeFailoverCmd struct {
	edgeConn   `embed:""`
	edgeChange `embed:""`
	From       string `name:"from" help:"The region whose login traffic moves (default: the edge's own)."`
	To         string `name:"to" required:"" help:"The region that takes it."`
}

func (c *edgeFailoverCmd) Run(ctx context.Context, s streams) error {
	return change(ctx, c.edgeConn, s, http.MethodPost, "/v1/failover", c.body(map[string]any{"from": c.From, "to": c.To}))
}

type edgeFailbackCmd struct {
	edgeConn   `embed:""`
	edgeChange `embed:""`
	From       string `name:"from" help:"The failed-over region (default: the edge's own)."`
}

func (c *edgeFailbackCmd) Run(ctx context.Context, s streams) error {
	return change(ctx, c.edgeConn, s, http.MethodPost, "/v1/failback", c.body(map[string]any{"from": c.From}))
}

type edgeUndoCmd struct {
	edgeConn `embed:""`
	Reason   string `name:"reason" help:"Why (kept in the audit event)."`
}

func (c *edgeUndoCmd) Run(ctx context.Context, s streams) error {
	body := map[string]any{}
	if c.Reason != "" {
		body["reason"] = c.Reason
	}
	return change(ctx, c.edgeConn, s, http.MethodPost, "/v1/undo", body)
}

type edgeReloadCmd struct {
	edgeConn `embed:""`
}

func (c *edgeReloadCmd) Run(ctx context.Context, s streams) error {
	return change(ctx, c.edgeConn, s, http.MethodPost, "/v1/reload", nil)
}
