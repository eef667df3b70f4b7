package edge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ControlPrefix is where the traffic-control API lives on the control address.
const ControlPrefix = "/v1/"

// maxControlBody bounds a control API request body.
const maxControlBody = 64 << 10

// checkTimeout bounds the pre-scale check's queries to the other edges.
const checkTimeout = 3 * time.Second

// ControlHandler serves the traffic-control API. Every route needs the control token
// as a bearer token; every answer to a bad request is an RFC 9457 problem.
func (e *Edge) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	routes := []struct {
		method, path string
		h            func(http.ResponseWriter, *http.Request) error
	}{
		{"GET", "/v1/status", e.handleStatus},
		{"GET", "/v1/events", e.handleEvents},
		{"GET", "/v1/load", e.handleLoad},
		{"PUT", "/v1/weights", e.handleWeights},
		{"POST", "/v1/shift", e.handleShift},
		{"DELETE", "/v1/shift", e.handleShiftCancel},
		{"POST", "/v1/drain", e.handleDrain(true)},
		{"POST", "/v1/undrain", e.handleDrain(false)},
		{"POST", "/v1/failover", e.handleFailover},
		{"POST", "/v1/failback", e.handleFailback},
		{"POST", "/v1/undo", e.handleUndo},
		{"POST", "/v1/reload", e.handleReload},
	}
	allowed := map[string][]string{}
	for _, rt := range routes {
		h := rt.h
		mux.Handle(rt.method+" "+rt.path, e.authenticated(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				var p *problem
				if !errors.As(err, &p) {
					e.logger.Error("edge control API", "error", err.Error())
					p = &problem{Type: typePrefix + "internal", Title: "Internal error", Status: http.StatusInternalServerError,
						Detail: "the change could not be saved; see the edge's log"}
				}
				writeProblem(w, r, p)
			}
		}))
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for path, methods := range allowed {
		mux.Handle(path, e.authenticated(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeProblem(w, r, &problem{Type: typeMethod, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
				Detail: "this resource accepts " + strings.Join(methods, ", ")})
		}))
	}
	mux.Handle(ControlPrefix, e.authenticated(func(w http.ResponseWriter, r *http.Request) { writeProblem(w, r, notFound()) }))
	return mux
}

// authenticated checks the bearer token in constant time (both sides hashed first, so
// neither content nor length leaks).
func (e *Edge) authenticated(h http.HandlerFunc) http.Handler {
	want := sha256.Sum256(e.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || len(e.token) == 0 || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nines-edge"`)
			writeProblem(w, r, &problem{Type: typeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
				Detail: "send the edge control token as a bearer token (NINES_EDGE_CONTROL_TOKEN)"})
			return
		}
		h(w, r)
	})
}

// decodeBody reads a JSON object strictly into v.
func decodeBody(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &problem{Type: typeMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "send application/json"}
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxControlBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("the body is not the JSON object this call takes: " + jsonDetail(err))
	}
	if dec.More() {
		return malformed("the body holds more than one JSON value")
	}
	return nil
}

// jsonDetail describes a decoding error without quoting the input.
func jsonDetail(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated"
	}
	return "unreadable"
}

func malformed(detail string) *problem {
	return &problem{Type: typeMalformed, Title: "Malformed request", Status: http.StatusBadRequest, Detail: detail}
}

func invalid(field, detail string) *problem {
	return &problem{Type: typeValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
		Detail: field + ": " + detail, Errors: []any{map[string]string{"field": field, "detail": detail}}}
}

func remote(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// ChangeResult is the answer to a change.
type ChangeResult struct {
	Action string       `json:"action"`
	Target string       `json:"target"`
	Result string       `json:"result"` // ok, forced
	Event  uint64       `json:"event"`  // the audit event's sequence number
	Check  *CheckResult `json:"check,omitempty"`
	Before Overrides    `json:"before"`
	After  Overrides    `json:"after"`
}

// changeReq is what every change carries besides its own fields.
type changeReq struct {
	Force  bool   `json:"force"`
	Reason string `json:"reason"`
}

func (c changeReq) validate() error {
	if len(c.Reason) > 200 || strings.ContainsFunc(c.Reason, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return invalid("reason", "at most 200 bytes, no control characters")
	}
	return nil
}

// apply runs one change (doChange) and answers with its result.
func (e *Edge) apply(w http.ResponseWriter, r *http.Request, action, target string, cr changeReq,
	checkRegions []string, failFrom, failTo string, fn func(*Overrides) error) error {
	res, err := e.doChange(r.Context(), remote(r), action, target, cr, true, checkRegions, failFrom, failTo, fn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// doChange runs one change: fn edits a copy of the overrides; when checkRegions or a
// failover target is given, the pre-scale check runs on the result and refuses it (409)
// unless forced; then the change is persisted, takes effect, and is an audit event.
// pushUndo records the state before it for undo.
func (e *Edge) doChange(ctx context.Context, remoteAddr, action, target string, cr changeReq, pushUndo bool,
	checkRegions []string, failFrom, failTo string, fn func(*Overrides) error) (ChangeResult, error) {
	var res *CheckResult
	wrapped := func(o *Overrides) error {
		before := o.clone()
		if err := fn(o); err != nil {
			return err
		}
		after := o.clone()
		after.normalise()
		if after.equal(before) {
			return errNoChange // before the check: nothing moves
		}
		if len(checkRegions) == 0 && failTo == "" {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		c := e.check(cctx, *o, checkRegions, failFrom, failTo, action == "failback_region")
		res = &c
		if !c.OK {
			if !cr.Force {
				return &problem{Type: typeRefused, Title: "Refused by the pre-scale check", Status: http.StatusConflict,
					Detail: "the target cannot be shown to take the load: " + strings.Join(c.Problems, "; ") +
						" (scale the target up, or repeat with force to override)", Check: res}
			}
			res.Forced = true
		}
		return nil
	}
	before, after, err := e.state.change(action, target, pushUndo, wrapped)
	result := "ok"
	if res != nil && res.Forced {
		result = "forced"
	}
	switch {
	case errors.Is(err, errNoChange):
		return ChangeResult{}, &problem{Type: typeConflict, Title: "Nothing to change", Status: http.StatusConflict,
			Detail: "the edge is in that state already"}
	case err != nil:
		var p *problem
		if errors.As(err, &p) {
			if p.Type == typeRefused {
				e.events.add(Event{Kind: KindChange, Action: action, Target: target, Result: "refused", Detail: p.Detail,
					Reason: cr.Reason, Remote: remoteAddr})
				e.metrics.changes.WithLabelValues(action, "refused").Inc()
			}
			return ChangeResult{}, p
		}
		e.events.add(Event{Kind: KindChange, Action: action, Target: target, Result: "failed", Detail: "could not save the state",
			Reason: cr.Reason, Remote: remoteAddr})
		e.metrics.changes.WithLabelValues(action, "failed").Inc()
		return ChangeResult{}, err
	}
	detail := ""
	if res != nil {
		detail = checkSummary(res)
	}
	ev := e.events.add(Event{Kind: KindChange, Action: action, Target: target, Result: result, Detail: detail,
		Reason: cr.Reason, Remote: remoteAddr})
	e.metrics.changes.WithLabelValues(action, result).Inc()
	return ChangeResult{Action: action, Target: target, Result: result, Event: ev.Seq, Check: res, Before: before, After: after}, nil
}

func checkSummary(c *CheckResult) string {
	var parts []string
	for _, cc := range c.Clusters {
		parts = append(parts, fmt.Sprintf("%s/%s %.1f→%.1f of %.1f rps", cc.Region, cc.Cluster, cc.LoadRPS, cc.AfterRPS, cc.CapacityRPS))
	}
	s := "pre-scale check: " + strings.Join(parts, ", ")
	if len(c.Problems) > 0 {
		s += "; problems: " + strings.Join(c.Problems, "; ")
	}
	return s
}

func (e *Edge) regionOrDefault(r string) string {
	if r == "" {
		return e.cfg.Region
	}
	return r
}

// weightsReq sets cluster weights of a region.
type weightsReq struct {
	changeReq
	Region  string         `json:"region"`
	Weights map[string]int `json:"weights"`
}

func (e *Edge) handleWeights(w http.ResponseWriter, r *http.Request) error {
	var req weightsReq
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	region := e.regionOrDefault(req.Region)
	if err := e.knownClusters(region, req.Weights); err != nil {
		return err
	}
	return e.withShiftStopped(func() error {
		return e.apply(w, r, "set_weights", region, req.changeReq, []string{region}, "", "", func(o *Overrides) error {
			setWeights(o, region, req.Weights)
			return nil
		})
	})
}

// knownClusters checks a weights map against the region's clusters.
func (e *Edge) knownClusters(region string, ws map[string]int) error {
	rt := e.rt.Load()
	if !rt.regions[region] {
		return invalid("region", fmt.Sprintf("%q is not a region of the routing table", region))
	}
	if len(ws) == 0 {
		return invalid("weights", "give at least one cluster's weight")
	}
	for name, v := range ws {
		if rt.clusters[region+"/"+name] == nil {
			return invalid("weights", fmt.Sprintf("%q is not a login cluster of region %s (%s)", name, region, clusterNames(rt, region)))
		}
		if v < 0 || v > 1000 {
			return invalid("weights", fmt.Sprintf("%s: a weight is from 0 to 1000", name))
		}
	}
	return nil
}

func setWeights(o *Overrides, region string, ws map[string]int) {
	if o.Weights == nil {
		o.Weights = map[string]map[string]int{}
	}
	if o.Weights[region] == nil {
		o.Weights[region] = map[string]int{}
	}
	for c, v := range ws {
		o.Weights[region][c] = v
	}
}

func clusterNames(rt *routing, region string) string {
	var names []string
	for _, c := range rt.clustersOf(region) {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// drainReq drains or undrains a cluster or a zone of a region.
type drainReq struct {
	changeReq
	Region  string `json:"region"`
	Cluster string `json:"cluster"`
	Zone    string `json:"zone"`
}

func (e *Edge) handleDrain(drain bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req drainReq
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if err := req.validate(); err != nil {
			return err
		}
		region := e.regionOrDefault(req.Region)
		rt := e.rt.Load()
		if (req.Cluster == "") == (req.Zone == "") {
			return invalid("cluster", "name either a cluster or a zone")
		}
		what, key, list := "cluster", region+"/"+req.Cluster, func(o *Overrides) *[]string { return &o.DrainedClusters }
		if req.Zone != "" {
			what, key, list = "zone", region+"/"+req.Zone, func(o *Overrides) *[]string { return &o.DrainedZones }
		}
		if drain { // an undrain may clean up a name that left the table
			switch {
			case what == "cluster" && rt.clusters[key] == nil:
				return invalid("cluster", fmt.Sprintf("%q is not a login cluster of region %s (%s)", req.Cluster, region, clusterNames(rt, region)))
			case what == "zone" && !rt.zones[key]:
				return invalid("zone", fmt.Sprintf("no backend of region %s is in zone %q", region, req.Zone))
			}
		}
		// Both move traffic: a drain onto the rest of the region, an undrain onto the
		// target; the pre-scale check covers the region either way.
		action := "drain_" + what
		if !drain {
			action = "undrain_" + what
		}
		check := []string{region}
		return e.withShiftStopped(func() error {
			return e.apply(w, r, action, key, req.changeReq, check, "", "", func(o *Overrides) error {
				l := list(o)
				if drain {
					*l = append(*l, key)
				} else {
					*l = slices.DeleteFunc(*l, func(s string) bool { return s == key })
				}
				return nil
			})
		})
	}
}

// failoverReq sends a region's login traffic to another region.
type failoverReq struct {
	changeReq
	From string `json:"from"`
	To   string `json:"to"`
}

func (e *Edge) handleFailover(w http.ResponseWriter, r *http.Request) error {
	var req failoverReq
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	rt := e.rt.Load()
	from := e.regionOrDefault(req.From)
	switch {
	case !rt.regions[from]:
		return invalid("from", fmt.Sprintf("%q is not a region of the routing table", from))
	case req.To == "" || !rt.regions[req.To]:
		return invalid("to", fmt.Sprintf("%q is not a region of the routing table", req.To))
	case req.To == from:
		return invalid("to", "a region does not fail over to itself")
	}
	for _, sn := range sortedShardNames(rt.shards) {
		s := rt.shards[sn]
		if s.regions[from] != nil && s.regions[req.To] == nil {
			return invalid("to", fmt.Sprintf("shard %s runs in %s but not in %s", sn, from, req.To))
		}
	}
	return e.apply(w, r, "failover_region", from+"->"+req.To, req.changeReq, nil, from, req.To, func(o *Overrides) error {
		if o.Failovers == nil {
			o.Failovers = map[string]string{}
		}
		if o.Failovers[req.To] != "" {
			return invalid("to", fmt.Sprintf("region %s is failed over itself (to %s): fail it back first", req.To, o.Failovers[req.To]))
		}
		o.Failovers[from] = req.To
		return nil
	})
}

// failbackReq ends a region failover.
type failbackReq struct {
	changeReq
	From string `json:"from"`
}

func (e *Edge) handleFailback(w http.ResponseWriter, r *http.Request) error {
	var req failbackReq
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	from := e.regionOrDefault(req.From)
	// Traffic comes back to from: check that its clusters can take it.
	return e.apply(w, r, "failback_region", from, req.changeReq, []string{from}, "", "", func(o *Overrides) error {
		delete(o.Failovers, from)
		return nil
	})
}

func (e *Edge) handleUndo(w http.ResponseWriter, r *http.Request) error {
	var req changeReq
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req); err != nil {
			return err
		}
	}
	if err := req.validate(); err != nil {
		return err
	}
	var before, after Overrides
	var last undoEntry
	err := e.withShiftStopped(func() error {
		var err error
		before = e.state.load().o
		last, after, err = e.state.undoLast()
		return err
	})
	if errors.Is(err, errNoChange) {
		return &problem{Type: typeConflict, Title: "Nothing to undo", Status: http.StatusConflict, Detail: "no change is recorded"}
	}
	if err != nil {
		return err
	}
	target := last.Action
	if last.Target != "" {
		target += " " + last.Target
	}
	ev := e.events.add(Event{Kind: KindChange, Action: "undo", Target: target, Result: "ok",
		Detail: "restored the state before the change of " + last.At.Format(time.RFC3339), Reason: req.Reason, Remote: remote(r)})
	e.metrics.changes.WithLabelValues("undo", "ok").Inc()
	writeJSON(w, http.StatusOK, ChangeResult{Action: "undo", Target: target, Result: "ok", Event: ev.Seq, Before: before, After: after})
	return nil
}

func (e *Edge) handleReload(w http.ResponseWriter, r *http.Request) error {
	res, err := e.Reload("control API")
	e.events.add(Event{Kind: KindChange, Action: "reload", Target: e.cfg.RoutesPath, Result: map[bool]string{true: "ok", false: "refused"}[err == nil],
		Remote: remote(r)})
	if err != nil {
		errs := make([]any, 0, len(res.Problems))
		for _, p := range res.Problems {
			errs = append(errs, map[string]string{"detail": p})
		}
		return &problem{Type: typeValidation, Title: "Routing table refused", Status: http.StatusUnprocessableEntity,
			Detail: "the routing file has problems; the running table is kept", Errors: errs}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (e *Edge) handleLoad(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, e.localLoad())
	return nil
}

func (e *Edge) handleEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, paging, limit := uint64(0), false, 100
	if s := q.Get("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return invalid("after", "a sequence number")
		}
		after, paging = v, true
	}
	if s := q.Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxEvents {
			return invalid("limit", fmt.Sprintf("from 1 to %d", maxEvents))
		}
		limit = v
	}
	kind := q.Get("kind")
	if kind != "" && kind != KindChange && kind != KindHealth && kind != KindReload {
		return invalid("kind", "change, health or reload")
	}
	// Oldest first either way. With after: the oldest limit events after it (a page; the
	// next one starts after its last seq). Without: the newest limit (what
	// `nines ctl edge events` shows).
	evs := e.events.tail(kind, limit)
	if paging {
		evs = e.events.list(after, kind, limit)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
	return nil
}
