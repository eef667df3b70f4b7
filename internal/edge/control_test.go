package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestControlAPIErrors(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	send := func(method, path, token, ctype, body string) (int, http.Header, []byte) {
		req, _ := http.NewRequest(method, te.control+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := te.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw [4096]byte
		n, _ := resp.Body.Read(raw[:])
		return resp.StatusCode, resp.Header, raw[:n]
	}
	for _, tt := range []struct {
		name, method, path, token, ctype, body string
		want                                   int
		wantType, wantDetail                   string
	}{
		{name: "no token", method: "GET", path: "/v1/status", want: 401, wantType: typeUnauthorized},
		{name: "wrong token", method: "GET", path: "/v1/status", token: testToken + "x", want: 401, wantType: typeUnauthorized},
		{name: "unknown path", method: "GET", path: "/v1/nope", token: testToken, want: 404, wantType: typeNotFound},
		{name: "wrong method", method: "GET", path: "/v1/drain", token: testToken, want: 405, wantType: typeMethod},
		{name: "not json", method: "POST", path: "/v1/drain", token: testToken, ctype: "text/plain", body: "x", want: 415, wantType: typeMediaType},
		{name: "bad json", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json", body: "{", want: 400,
			wantType: typeMalformed},
		{name: "unknown field", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-a","clustr":"x"}`, want: 400, wantType: typeMalformed, wantDetail: `unknown field "clustr"`},
		{name: "two values", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-a"} {}`, want: 400, wantType: typeMalformed},
		{name: "unknown cluster", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-z"}`, want: 422, wantType: typeValidation, wantDetail: "login-a, login-b"},
		{name: "cluster and zone", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-a","zone":"z1"}`, want: 422, wantType: typeValidation},
		{name: "unknown zone", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json",
			body: `{"zone":"z9"}`, want: 422, wantType: typeValidation},
		{name: "bad weight", method: "PUT", path: "/v1/weights", token: testToken, ctype: "application/json",
			body: `{"weights":{"login-a":-1}}`, want: 422, wantType: typeValidation},
		{name: "failover to itself", method: "POST", path: "/v1/failover", token: testToken, ctype: "application/json",
			body: `{"to":"west"}`, want: 422, wantType: typeValidation},
		{name: "failover to nowhere", method: "POST", path: "/v1/failover", token: testToken, ctype: "application/json",
			body: `{"to":"mars"}`, want: 422, wantType: typeValidation},
		{name: "bad shift step", method: "POST", path: "/v1/shift", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-b","step":500}`, want: 422, wantType: typeValidation},
		{name: "nothing to undo", method: "POST", path: "/v1/undo", token: testToken, want: 409, wantType: typeConflict},
		{name: "undrain what is not drained", method: "POST", path: "/v1/undrain", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-a"}`, want: 409, wantType: typeConflict},
		{name: "reason with a newline", method: "POST", path: "/v1/drain", token: testToken, ctype: "application/json",
			body: `{"cluster":"login-a","reason":"a\nb"}`, want: 422, wantType: typeValidation},
		{name: "bad events limit", method: "GET", path: "/v1/events?limit=0", token: testToken, want: 422, wantType: typeValidation},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, raw := send(tt.method, tt.path, tt.token, tt.ctype, tt.body)
			if code != tt.want || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d (%s), want %d: %s", code, hdr.Get("Content-Type"), tt.want, raw)
			}
			p := problemOf(t, raw)
			if p.Type != tt.wantType || !strings.Contains(p.Detail, tt.wantDetail) {
				t.Fatalf("problem %+v, want type %s and detail with %q", p, tt.wantType, tt.wantDetail)
			}
			if code == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if got := te.events.list(0, KindChange, 0); len(got) != 0 {
		t.Fatalf("refused requests made events: %+v", got)
	}
}

// TestDrainPersists: a drained cluster and a drained zone get no traffic, stay drained
// across a restart of the edge and across a reload that adds a backend in the drained
// zone (scaling does not bring it back), and come back with undrain; undo walks back.
func TestDrainPersists(t *testing.T) {
	tc := newTwoClusters(t)
	statePath := filepath.Join(t.TempDir(), "edge-state.json")
	te := startEdge(t, tc.routes(""), edgeOpts{statePath: statePath})
	if code, raw := te.ctl(t, "POST", "/v1/drain", map[string]any{"cluster": "login-a", "reason": "bad deploy"}); code != http.StatusOK {
		t.Fatalf("drain cluster: %d %s", code, raw)
	}
	// b2 is in zone z2; b1 in z1.
	code, raw := te.ctl(t, "POST", "/v1/drain", map[string]any{"zone": "z2", "reason": "zone degraded"})
	if code != http.StatusOK {
		t.Fatalf("drain zone: %d %s", code, raw)
	}
	var cr ChangeResult
	if err := json.Unmarshal(raw, &cr); err != nil || cr.Result != "ok" || cr.Check == nil || len(cr.After.DrainedZones) != 1 {
		t.Fatalf("change result %+v (%v)", cr, err)
	}
	ctx := context.Background()
	s := runLoad(ctx, te.client, te.public, 4, 300, 0.3)
	if s.getFail+s.postFail != 0 || s.byBackend["b1"] != 300 {
		t.Fatalf("with login-a and z2 drained: %v %v", s.byBackend, s.failures)
	}

	// Restart: a new edge on the same state file, and a table with one more backend of
	// login-b, in the drained zone.
	te.cancel()
	<-te.done
	b3 := newFakeBackend(t, "b3")
	routes := strings.Replace(tc.routes(""), backendsYAML(tc.b1, tc.b2),
		backendsYAML(tc.b1, tc.b2)[:len(backendsYAML(tc.b1, tc.b2))-1]+`, {url: "`+b3.URL()+`", zone: z2}]`, 1)
	te2 := startEdge(t, routes, edgeOpts{statePath: statePath})
	st := te2.Status()
	if len(st.Overrides.DrainedClusters) != 1 || st.Overrides.DrainedClusters[0] != "west/login-a" ||
		len(st.Overrides.DrainedZones) != 1 || st.UndoDepth != 2 {
		t.Fatalf("after restart: %+v", st.Overrides)
	}
	s = runLoad(ctx, te2.client, te2.public, 4, 300, 0.3)
	if s.getFail+s.postFail != 0 || s.byBackend["b1"] != 300 {
		t.Fatalf("after restart and scale-up in the drained zone: %v %v", s.byBackend, s.failures)
	}
	if code, raw := te2.ctl(t, "POST", "/v1/undrain", map[string]any{"zone": "z2"}); code != http.StatusOK {
		t.Fatalf("undrain: %d %s", code, raw)
	}
	s = runLoad(ctx, te2.client, te2.public, 4, 300, 0)
	if s.byBackend["b2"] == 0 || s.byBackend["b3"] == 0 || s.byBackend["a1"]+s.byBackend["a2"] != 0 {
		t.Fatalf("after undrain of z2: %v", s.byBackend)
	}
	// Undo twice: the zone drain comes back (undoing the undrain), then goes (undoing the
	// drain); login-a stays drained.
	for i, want := range []int{1, 0} {
		if code, raw := te2.ctl(t, "POST", "/v1/undo", nil); code != http.StatusOK {
			t.Fatalf("undo %d: %d %s", i, code, raw)
		}
		if got := len(te2.Status().Overrides.DrainedZones); got != want {
			t.Fatalf("undo %d: drained zones %d, want %d", i, got, want)
		}
	}
	if got := te2.Status().Overrides.DrainedClusters; len(got) != 1 {
		t.Fatalf("drained clusters %v", got)
	}
	var actions []string
	for _, ev := range te2.events.list(0, KindChange, 0) {
		if ev.Remote == "" {
			t.Fatalf("audit event without the caller: %+v", ev)
		}
		actions = append(actions, ev.Action+":"+ev.Result)
	}
	if got := strings.Join(actions, ","); got != "undrain_zone:ok,undo:ok,undo:ok" {
		t.Fatalf("audit events %s", got)
	}
}

// TestPreScaleCheckInRegion: draining a cluster whose load the other cannot take is
// refused with the check's numbers, done with force, and both are audit events.
func TestPreScaleCheckInRegion(t *testing.T) {
	tc := newTwoClusters(t)
	routes := strings.Replace(tc.routes(""), "{name: login-b, capacity_rps: 100000", "{name: login-b, capacity_rps: 5", 1)
	te := startEdge(t, routes, edgeOpts{})
	ctx := context.Background()
	// Steady load: well above 5 requests/s over the 10s window.
	s := runLoad(ctx, te.client, te.public, 4, 400, 0)
	if s.getFail != 0 {
		t.Fatalf("failures %v", s.failures)
	}
	code, raw := te.ctl(t, "POST", "/v1/drain", map[string]any{"cluster": "login-a", "reason": "test"})
	if code != http.StatusConflict {
		t.Fatalf("drain without capacity: %d %s", code, raw)
	}
	p := problemOf(t, raw)
	if p.Type != typeRefused || p.Check == nil || p.Check.OK || len(p.Check.Clusters) != 1 ||
		p.Check.Clusters[0].Cluster != "login-b" || p.Check.Clusters[0].AfterRPS <= 5 || p.Check.Clusters[0].CapacityRPS != 5 {
		t.Fatalf("refusal %+v check %+v", p, p.Check)
	}
	if len(te.Status().Overrides.DrainedClusters) != 0 {
		t.Fatal("a refused drain took effect")
	}
	code, raw = te.ctl(t, "POST", "/v1/drain", map[string]any{"cluster": "login-a", "force": true, "reason": "test"})
	var cr ChangeResult
	if code != http.StatusOK || json.Unmarshal(raw, &cr) != nil || cr.Result != "forced" {
		t.Fatalf("forced drain: %d %s", code, raw)
	}
	var results []string
	for _, ev := range te.events.list(0, KindChange, 0) {
		results = append(results, ev.Action+":"+ev.Result)
		if ev.Reason != "test" || !strings.Contains(ev.Detail, "login-b") {
			t.Fatalf("event %+v", ev)
		}
	}
	if got := strings.Join(results, ","); got != "drain_cluster:refused,drain_cluster:forced" {
		t.Fatalf("events %s", got)
	}
}

// TestShiftGradually: a shift moves the share step by step, each step an audit event,
// and undo restores the weights from before the shift.
func TestShiftGradually(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	code, raw := te.ctl(t, "POST", "/v1/shift", map[string]any{"cluster": "login-b", "to_percent": 100, "step": 25, "interval": "100ms"})
	if code != http.StatusAccepted {
		t.Fatalf("shift: %d %s", code, raw)
	}
	waitFor(t, 10*time.Second, "the shift to finish", func() bool {
		s := te.Status().Shift
		return s != nil && s.State == "done"
	})
	st := te.Status()
	if w := st.Overrides.Weights["west"]; w["login-a"] != 0 || w["login-b"] != 100 {
		t.Fatalf("weights after the shift %v", w)
	}
	var steps []string
	for _, ev := range te.events.list(0, KindChange, 0) {
		steps = append(steps, ev.Target)
	}
	if got := strings.Join(steps, ","); got != "west/login-b 75%,west/login-b 100%" {
		t.Fatalf("steps %s", got) // from 50%: 75, 100
	}
	s := runLoad(context.Background(), te.client, te.public, 2, 200, 0)
	if s.byBackend["a1"]+s.byBackend["a2"] != 0 {
		t.Fatalf("login-a still gets traffic at 0%%: %v", s.byBackend)
	}
	if code, raw := te.ctl(t, "POST", "/v1/undo", nil); code != http.StatusOK {
		t.Fatalf("undo: %d %s", code, raw)
	}
	if w := te.Status().Overrides.Weights; len(w) != 0 {
		t.Fatalf("weights after undo %v", w)
	}
}

// TestRegionFailover: two regions, an edge in each. Failing west over to east is refused
// while east's cluster cannot take west's load on top of its own, as reported by east's
// edge; with capacity (a reloaded table) it is done, and west's login traffic goes to
// east. Failback brings it home.
func TestRegionFailover(t *testing.T) {
	w1, w2, e1, admin := newFakeBackend(t, "w1"), newFakeBackend(t, "w2"), newFakeBackend(t, "e1"), newFakeBackend(t, "admin")
	westLn, eastLn := listen(t), listen(t)
	routes := func(eastCapacity int) string {
		return `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        edges: ["http://` + westLn.Addr().String() + `"]
        admin: {backends: ` + backendsYAML(admin) + `}
        clusters:
          - {name: login-w1, capacity_rps: 100000, backends: ` + backendsYAML(w1) + `}
          - {name: login-w2, capacity_rps: 100000, backends: ` + backendsYAML(w2) + `}
      - name: east
        edges: ["http://` + eastLn.Addr().String() + `"]
        clusters:
          - {name: login-e1, capacity_rps: ` + itoa(int64(eastCapacity)) + `, backends: ` + backendsYAML(e1) + `}
tenants: {default_shard: us}
` + fastSettings
	}
	west := startEdge(t, routes(1), edgeOpts{region: "west", controlLn: westLn})
	east := startEdge(t, routes(1), edgeOpts{region: "east", controlLn: eastLn})
	ctx := context.Background()
	load := func() {
		if s := runLoad(ctx, west.client, west.public, 2, 200, 0); s.getFail != 0 || s.byBackend["e1"] != 0 {
			t.Fatalf("west: %v %v", s.byBackend, s.failures)
		}
		if s := runLoad(ctx, east.client, east.public, 2, 100, 0); s.getFail != 0 || s.byBackend["e1"] != 100 {
			t.Fatalf("east: %v %v", s.byBackend, s.failures)
		}
	}
	load()
	code, raw := west.ctl(t, "POST", "/v1/failover", map[string]any{"to": "east", "reason": "region degraded"})
	if code != http.StatusConflict {
		t.Fatalf("failover without capacity: %d %s", code, raw)
	}
	p := problemOf(t, raw)
	if p.Check == nil || len(p.Check.Clusters) != 1 || p.Check.Clusters[0].Cluster != "login-e1" || p.Check.Clusters[0].LoadRPS <= 0 {
		t.Fatalf("check %+v", p.Check) // east's own load, reported by east's edge, is in it
	}
	okEdges := 0
	for _, r := range p.Check.Edges {
		if r.OK {
			okEdges++
		}
	}
	if okEdges != 2 {
		t.Fatalf("edges %+v", p.Check.Edges)
	}
	// East scales up (its table says so on both edges).
	for _, te := range []*testEdge{west, east} {
		te.writeRoutes(t, routes(100000))
		if code, raw := te.ctl(t, "POST", "/v1/reload", nil); code != http.StatusOK {
			t.Fatalf("reload: %d %s", code, raw)
		}
	}
	load()
	code, raw = west.ctl(t, "POST", "/v1/failover", map[string]any{"to": "east", "reason": "region degraded"})
	if code != http.StatusOK {
		t.Fatalf("failover with capacity: %d %s", code, raw)
	}
	s := runLoad(ctx, west.client, west.public, 2, 200, 0)
	if s.getFail != 0 || s.byBackend["e1"] != 200 {
		t.Fatalf("after failover west's login traffic went to %v (%v)", s.byBackend, s.failures)
	}
	// Admin traffic always goes to the primary region.
	if code, ec, _, raw := west.get(t, "/admin/v1/tenants", nil); code != 200 || ec.Backend != "admin" {
		t.Fatalf("admin after failover: %d %s", code, raw)
	}
	code, raw = west.ctl(t, "POST", "/v1/failback", map[string]any{"reason": "recovered"})
	var cr ChangeResult
	if code != http.StatusOK || json.Unmarshal(raw, &cr) != nil || cr.Check == nil {
		t.Fatalf("failback: %d %s", code, raw)
	}
	// The check counts what west's edge sends to east now as coming home.
	home := 0.0
	for _, c := range cr.Check.Clusters {
		if c.Region == "west" {
			home += c.AfterRPS
		}
	}
	if home <= 0 {
		t.Fatalf("failback check without west's load: %+v", cr.Check)
	}
	if s := runLoad(ctx, west.client, west.public, 2, 100, 0); s.byBackend["e1"] != 0 {
		t.Fatalf("after failback: %v", s.byBackend)
	}
}

// TestAutomaticRegionFailover: when the edge's own region has no healthy login cluster,
// login traffic goes to the next region with no failed request, and comes back.
func TestAutomaticRegionFailover(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	for _, b := range []*fakeBackend{tc.a1, tc.a2, tc.b1, tc.b2} {
		b.readyDown.Store(true)
		b.setMode(mode5xx)
	}
	waitFor(t, 5*time.Second, "west's clusters to be out", func() bool { return !te.Ready() })
	s := runLoad(context.Background(), te.client, te.public, 2, 200, 0.5)
	if s.getFail+s.postFail != 0 || s.byBackend["east"] != 200 {
		t.Fatalf("with west down: %v %v", s.byBackend, s.failures)
	}
	for _, b := range []*fakeBackend{tc.a1, tc.a2, tc.b1, tc.b2} {
		b.readyDown.Store(false)
		b.setMode(modeOK)
	}
	waitFor(t, 10*time.Second, "west to be back", te.Ready)
	s = runLoad(context.Background(), te.client, te.public, 2, 100, 0)
	if s.byBackend["east"] != 0 {
		t.Fatalf("west back: %v", s.byBackend)
	}
}

// TestChangeDuringShiftStart: an operator's change (weights, a drain, undo, a shift
// cancel) that arrives while a shift is starting ends that shift; it must not keep
// stepping over the change. The shift's first step is held in its pre-scale check by a
// peer edge that does not answer until the change is waiting on the edge; then both run
// to the end.
func TestChangeDuringShiftStart(t *testing.T) {
	for _, tt := range []struct {
		name, method, path string
		body               map[string]any
		frame              string // the change's handler, as it appears in a goroutine's stack
	}{
		{name: "weights", method: "PUT", path: "/v1/weights", body: map[string]any{"weights": map[string]int{"login-a": 90, "login-b": 10}, "force": true},
			frame: "(*Edge).handleWeights"},
		{name: "drain", method: "POST", path: "/v1/drain", body: map[string]any{"cluster": "login-a", "force": true},
			frame: "(*Edge).handleDrain"},
		{name: "undo", method: "POST", path: "/v1/undo", frame: "(*Edge).handleUndo"},
		{name: "cancel", method: "DELETE", path: "/v1/shift", frame: "(*Edge).handleShiftCancel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			entered, held := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					close(entered)
					<-held
				}
				_, _ = io.WriteString(w, `{"region":"west","clusters":[]}`)
			}))
			t.Cleanup(peer.Close)
			release := sync.OnceFunc(func() { close(held) })
			t.Cleanup(release) // before peer.Close, should the test stop early
			tc := newTwoClusters(t)
			routes := strings.Replace(tc.routes(""), "primary: true\n", "primary: true\n        edges: [\""+peer.URL+"\"]\n", 1)
			te := startEdge(t, routes, edgeOpts{})

			send := func(method, path string, body map[string]any) <-chan int {
				codes := make(chan int, 1)
				var rd io.Reader
				if body != nil {
					raw, _ := json.Marshal(body)
					rd = bytes.NewReader(raw)
				}
				req, _ := http.NewRequest(method, te.control+path, rd)
				req.Header.Set("Authorization", "Bearer "+te.token)
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				go func() {
					resp, err := te.client.Do(req)
					if err != nil {
						codes <- 0
						return
					}
					resp.Body.Close()
					codes <- resp.StatusCode
				}()
				return codes
			}
			shift := send("POST", "/v1/shift", map[string]any{"cluster": "login-b", "to_percent": 100, "step": 10,
				"interval": "1h", "force": true})
			<-entered // the shift's first step is in its pre-scale check
			change := send(tt.method, tt.path, tt.body)
			code := 0 // the change's answer, should it not wait
			waitFor(t, 10*time.Second, "the change to wait on the edge", func() bool {
				select {
				case code = <-change:
					return true
				default:
					return blockedIn(tt.frame)
				}
			})
			release()
			if c := <-shift; c != http.StatusAccepted {
				t.Fatalf("shift: %d", c)
			}
			if code == 0 {
				code = <-change
			}
			if code != http.StatusOK {
				t.Fatalf("%s: %d", tt.name, code)
			}
			if s := te.Status().Shift; s == nil || s.State != "canceled" {
				t.Fatalf("the shift goes on after the operator's change: %+v", s)
			}
		})
	}
}

// blockedIn reports whether a goroutine with frame in its stack waits on a mutex.
func blockedIn(frame string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, frame) && strings.Contains(g, "sync.(*Mutex).Lock") {
			return true
		}
	}
	return false
}
