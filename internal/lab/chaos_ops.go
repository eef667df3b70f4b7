package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/ninesid/nines/internal/edge"
)

// The operations scenarios are made of, each recorded as an action and, when it
// degrades the lab, paired with its undo (onRestore), which the run performs on every
// path.

// killProcs kills (SIGKILL) or stops (SIGTERM; PostgreSQL: a fast shutdown) each
// process, one after the other, and registers its start as an undo. It returns the
// undos' indexes.
func (r *chaosRun) killProcs(ctx context.Context, names []string, stop bool) ([]int, error) {
	var idx []int
	for _, name := range names {
		verb, f := "kill", KillProcess
		if stop {
			verb, f = "stop", StopProcess
		}
		i := r.onRestore("start "+name, func(ctx context.Context) error { _, err := StartProcess(ctx, r.st, name); return err })
		idx = append(idx, i)
		if err := r.act(ctx, verb+" "+name, func(ctx context.Context) (string, error) {
			p, err := f(ctx, r.st, name)
			if err == nil && p.PID != 0 {
				err = fmt.Errorf("%s still runs (pid %d)", name, p.PID)
			}
			return "", err
		}); err != nil {
			return idx, err
		}
	}
	return idx, nil
}

// restoreNow performs the undos idx concurrently (those not done yet), each as an
// action; the first error is returned.
func (r *chaosRun) restoreNow(ctx context.Context, idx ...int) error {
	r.mu.Lock()
	var todo []restore
	for _, i := range idx {
		if !r.restores[i].done {
			r.restores[i].done = true
			todo = append(todo, r.restores[i])
		}
	}
	r.mu.Unlock()
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for k, rs := range todo {
		wg.Go(func() {
			errs[k] = r.act(ctx, rs.what, func(ctx context.Context) (string, error) { return "", rs.do(ctx) })
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// restartProc stops a process gracefully (SIGTERM) and starts it again, waiting until
// it is ready: one step of a rolling upgrade. Its start is an undo until it succeeded.
func (r *chaosRun) restartProc(ctx context.Context, name string) error {
	idx, err := r.killProcs(ctx, []string{name}, true)
	if err != nil {
		return err
	}
	return r.restoreNow(ctx, idx...)
}

// procNames are the names of st's processes that match.
func procNames(st State, match func(Process) bool) []string {
	var out []string
	for _, p := range st.Processes {
		if match(p) {
			out = append(out, p.Name)
		}
	}
	return out
}

// zoneToxic is the name of the toxic zone-degraded adds to a proxy.
const zoneToxic = "chaos-zone-degraded"

// zoneProxies are the proxies of a degraded zone: every connection into it or out of it.
func zoneProxies(st State, region, zone string) []Proxy {
	var out []Proxy
	for _, p := range st.Proxies {
		into := p.Zone == zone && p.Region == region
		from := p.FromZone == zone && p.FromRegion == region
		if into || from {
			out = append(out, p)
		}
	}
	return out
}

// addTimeoutToxics puts a timeout toxic (no data through, the connection held open)
// on toxicity of the connections of each proxy, in both directions' worth: on the
// downstream (answers), so a request is sent and its answer never comes — the
// caller's own timeouts must fire. Each is an undo.
func (r *chaosRun) addTimeoutToxics(ctx context.Context, proxies []Proxy, toxicity float64) ([]int, error) {
	tc := toxiclient.NewClient(r.st.Toxiproxy)
	var idx []int
	names := make([]string, 0, len(proxies))
	for _, p := range proxies {
		names = append(names, p.Name)
	}
	err := r.act(ctx, fmt.Sprintf("timeout toxic on %.0f%% of the connections of %d proxies", 100*toxicity, len(proxies)),
		func(context.Context) (string, error) {
			for _, p := range proxies {
				tp, err := tc.Proxy(p.Name)
				if err != nil {
					return "", err
				}
				idx = append(idx, r.onRestore("remove the toxic of "+p.Name, func(context.Context) error {
					return tp.RemoveToxic(zoneToxic)
				}))
				if _, err := tp.AddToxic(zoneToxic, "timeout", "downstream", float32(toxicity), toxiclient.Attributes{"timeout": 0}); err != nil {
					return "", err
				}
			}
			return strings.Join(names, ", "), nil
		})
	return idx, err
}

// removeToxics removes the toxics idx (one action for all, not one each).
func (r *chaosRun) removeToxics(ctx context.Context, idx []int) error {
	r.mu.Lock()
	var todo []restore
	for _, i := range idx {
		if !r.restores[i].done {
			r.restores[i].done = true
			todo = append(todo, r.restores[i])
		}
	}
	r.mu.Unlock()
	return r.act(ctx, fmt.Sprintf("remove the toxics (%d proxies)", len(todo)), func(ctx context.Context) (string, error) {
		var failed []string
		for _, rs := range todo {
			if err := rs.do(ctx); err != nil {
				failed = append(failed, rs.what+": "+err.Error())
			}
		}
		if len(failed) > 0 {
			return "", fmt.Errorf("%s", strings.Join(failed, "; "))
		}
		return "", nil
	})
}

// edgeHTTP talks to the edges' control APIs (loopback, no proxy, bounded by the
// callers' contexts).
var edgeHTTP = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// edgeCall sends one control API request to the edge whose control address is ctl.
func edgeCall(ctx context.Context, st State, ctl, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+ctl+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+st.EdgeControlToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := edgeHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		return fmt.Errorf("%s %s: %s: %s %s", method, path, resp.Status, p.Title, p.Detail)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// edgeChangeAll makes one change (POST path with body) on every edge of the lab, in
// the regions' order, as one action; it stops at the first edge that refuses.
func (r *chaosRun) edgeChangeAll(ctx context.Context, what, path string, body map[string]any) error {
	return r.act(ctx, what+" on every edge", func(ctx context.Context) (string, error) { return r.edgeChange(ctx, path, body) })
}

// edgeChange is edgeChangeAll without the action (for an undo, which is one already).
func (r *chaosRun) edgeChange(ctx context.Context, path string, body map[string]any) (string, error) {
	body["reason"] = "nines lab chaos " + r.cfg.Scenario
	var done []string
	for _, reg := range r.st.Regions {
		if reg.EdgeCtl == "" {
			continue
		}
		var res edge.ChangeResult
		if err := edgeCall(ctx, r.st, reg.EdgeCtl, http.MethodPost, path, body, &res); err != nil {
			return strings.Join(done, ", "), fmt.Errorf("edge-%s: %w", reg.Name, err)
		}
		done = append(done, "edge-"+reg.Name+" "+res.Result)
	}
	return strings.Join(done, ", "), nil
}

// edgeStatus is one edge's status.
func edgeStatus(ctx context.Context, st State, ctl string) (edge.Status, error) {
	var s edge.Status
	err := edgeCall(ctx, st, ctl, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// waitClusters waits (bounded by chaosEdgeSettleTimeout) until every edge of the lab
// sees every backend of the named clusters of region healthy and not ejected — a
// restarted process is back in every edge's rotation. It is an action.
func (r *chaosRun) waitClusters(ctx context.Context, region string, clusters []string) error {
	return r.act(ctx, fmt.Sprintf("wait until every edge sees %s/%s healthy", region, strings.Join(clusters, ",")),
		func(ctx context.Context) (string, error) {
			ctx, cancel := context.WithTimeout(ctx, chaosEdgeSettleTimeout)
			defer cancel()
			for {
				pending := ""
				for _, reg := range r.st.Regions {
					if reg.EdgeCtl == "" || pending != "" {
						continue
					}
					s, err := edgeStatus(ctx, r.st, reg.EdgeCtl)
					if err != nil {
						pending = "edge-" + reg.Name + ": " + err.Error()
						continue
					}
					pending = unhealthyBackend(s, region, clusters)
					if pending != "" {
						pending = "edge-" + reg.Name + ": " + pending
					}
				}
				if pending == "" {
					return "", nil
				}
				select {
				case <-ctx.Done():
					return "", fmt.Errorf("not within %v: %s", chaosEdgeSettleTimeout, pending)
				case <-time.After(250 * time.Millisecond):
				}
			}
		})
}

// unhealthyBackend names the first backend of the clusters of region that s shows
// unhealthy or ejected ("" when none).
func unhealthyBackend(s edge.Status, region string, clusters []string) string {
	for _, rs := range s.Regions {
		if rs.Name != region {
			continue
		}
		for _, cs := range rs.Clusters {
			if !slices.Contains(clusters, cs.Name) {
				continue
			}
			if cs.Ejected {
				return "cluster " + cs.Name + " ejected"
			}
			for _, b := range cs.Backends {
				if !b.Healthy || b.Ejected {
					return fmt.Sprintf("%s backend %s (%s) healthy=%v ejected=%v", cs.Name, b.URL, b.Zone, b.Healthy, b.Ejected)
				}
			}
		}
	}
	return ""
}

// edgeEvents are every edge's events between from and to (the last 200 each edge
// keeps), oldest first; an edge that does not answer is left out.
func edgeEvents(ctx context.Context, st State, from, to time.Time) []ChaosEdgeEvent {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []ChaosEdgeEvent
	for _, reg := range st.Regions {
		if reg.EdgeCtl == "" {
			continue
		}
		var page struct {
			Events []edge.Event `json:"events"`
		}
		if err := edgeCall(ctx, st, reg.EdgeCtl, http.MethodGet, "/v1/events?limit=200", nil, &page); err != nil {
			continue
		}
		for _, e := range page.Events {
			if e.At.Before(from) || e.At.After(to) {
				continue
			}
			out = append(out, ChaosEdgeEvent{Edge: "edge-" + reg.Name, Kind: e.Kind, Action: e.Action, Target: e.Target,
				Result: e.Result, Detail: e.Detail, at: e.At})
		}
	}
	slices.SortStableFunc(out, func(a, b ChaosEdgeEvent) int { return a.at.Compare(b.at) })
	return out
}
