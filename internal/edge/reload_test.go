package edge

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// seriesCount counts the series of a metric family in reg.
func seriesCount(t testing.TB, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.Metric)
		}
	}
	return 0
}

// TestReloadAndWeightsUnderLoad: while load runs, the routing file is replaced (a
// backend added, then one removed), a broken file is written (refused, the running
// table kept) and weights change — and no request fails.
func TestReloadAndWeightsUnderLoad(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	a3 := newFakeBackend(t, "a3")
	withA3 := strings.Replace(tc.routes(""), backendsYAML(tc.a1, tc.a2), backendsYAML(tc.a1, tc.a2, a3), 1)
	withoutA2 := strings.Replace(tc.routes(""), backendsYAML(tc.a1, tc.a2), backendsYAML(tc.a1, a3), 1)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s *loadStats
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		total := &loadStats{}
		for {
			select {
			case <-stop:
				s = total
				return
			default:
			}
			part := runLoad(ctx, te.client, te.public, 4, 100, 0.3)
			total.merge(part)
		}
	})
	step := func(what string, f func()) {
		f()
		time.Sleep(300 * time.Millisecond)
		t.Log(what)
	}
	step("added a3", func() { te.writeRoutes(t, withA3) })
	waitFor(t, 5*time.Second, "a3 in the table", func() bool { return strings.Contains(statusURLs(te), a3.URL()) })
	step("weights 20/80", func() {
		if code, raw := te.ctl(t, "PUT", "/v1/weights", map[string]any{"weights": map[string]int{"login-a": 20, "login-b": 80}}); code != 200 {
			t.Errorf("weights: %d %s", code, raw)
		}
	})
	step("broken file", func() { te.writeRoutes(t, "shards: [this is not a table") })
	waitFor(t, 5*time.Second, "the broken file to be refused", func() bool {
		for _, ev := range te.events.list(0, KindReload, 0) {
			if ev.Result == "refused" {
				return true
			}
		}
		return false
	})
	if code, raw := te.ctl(t, "POST", "/v1/reload", nil); code != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "invalid YAML") {
		t.Errorf("reload of a broken file: %d %s", code, raw)
	}
	step("removed a2", func() { te.writeRoutes(t, withoutA2) })
	waitFor(t, 5*time.Second, "a2 out of the table", func() bool { return !strings.Contains(statusURLs(te), tc.a2.URL()) })
	step("weights 50/50", func() {
		if code, raw := te.ctl(t, "PUT", "/v1/weights", map[string]any{"weights": map[string]int{"login-a": 50, "login-b": 50}}); code != 200 {
			t.Errorf("weights: %d %s", code, raw)
		}
	})
	close(stop)
	wg.Wait()
	if s.getFail+s.postFail != 0 {
		t.Fatalf("%d of %d requests failed during reloads and weight changes: %v", s.getFail+s.postFail, s.gets+s.posts, s.failures)
	}
	if s.byBackend["a3"] == 0 || s.gets+s.posts < 200 {
		t.Fatalf("load %d requests, by backend %v", s.gets+s.posts, s.byBackend)
	}
	if got := value(t, te.metrics.reloads.WithLabelValues("refused")); got < 1 {
		t.Fatalf("refused reloads metric %v", got)
	}
}

func (s *loadStats) merge(o *loadStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byBackend == nil {
		s.byBackend = map[string]int{}
	}
	s.gets += o.gets
	s.posts += o.posts
	s.getFail += o.getFail
	s.postFail += o.postFail
	s.failures = append(s.failures, o.failures...)
	for k, v := range o.byBackend {
		s.byBackend[k] += v
	}
}

func statusURLs(te *testEdge) string {
	var b strings.Builder
	for _, r := range te.Status().Regions {
		for _, c := range r.Clusters {
			for _, be := range c.Backends {
				b.WriteString(be.URL + " ")
			}
		}
	}
	return b.String()
}

// TestRetryBudget: with a budget of 5% and a burst of 2, a backend answering 503 to
// every GET is retried for at most 5% of the requests plus 2; the rest of its failures
// reach the client.
func TestRetryBudget(t *testing.T) {
	tc := newTwoClusters(t)
	// Ejection effectively off (a huge streak and error rate never reached), so the
	// failing backend keeps getting its share.
	te := startEdge(t, tc.routes(`
routes:
  login: {timeout: 5s, try_timeout: 2s}
health: {interval: 200ms, timeout: 150ms}
outlier: {consecutive_failures: 1000, min_requests: 100000}
retry: {budget_ratio: 0.05, budget_burst: 2}
`), edgeOpts{})
	for _, b := range []*fakeBackend{tc.a1, tc.a2} {
		b.setMode(mode5xx)
	}
	const n = 400
	s := runLoad(context.Background(), te.client, te.public, 2, n, 0)
	retries := 0
	for _, r := range te.Status().Regions {
		for _, c := range r.Clusters {
			for _, b := range c.Backends {
				retries += int(b.Retries)
			}
		}
	}
	limit := 0.05*n + 2
	t.Logf("%d requests, %d failed at the client, %d retries (budget %.0f)", n, s.getFail, retries, limit)
	if retries == 0 || float64(retries) > limit+1 {
		t.Fatalf("retries %d, want between 1 and %.0f", retries, limit)
	}
	if s.getFail == 0 {
		t.Fatal("no failure reached the client: the budget did not limit retries")
	}
	if got := value(t, te.metrics.retryRefused); got == 0 {
		t.Fatal("refused retries not counted")
	}
}

// TestEjectionCap: in a cluster of four backends of which three fail, at most half are
// ejected at once; the cluster as a whole goes out instead (the other cluster takes it).
// The other cluster's backend is in a zone of its own: a retry prefers another zone to
// another cluster (see retryPrefs), so one in z1 would not take the retries of a1.
func TestEjectionCap(t *testing.T) {
	bs := []*fakeBackend{newFakeBackend(t, "a1"), newFakeBackend(t, "a2"), newFakeBackend(t, "a3"), newFakeBackend(t, "a4")}
	b1, admin := newFakeBackend(t, "b1"), newFakeBackend(t, "admin")
	routes := `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: ` + backendsYAML(admin) + `}
        clusters:
          - {name: login-a, capacity_rps: 100000, backends: ` + backendsYAML(bs...) + `}
          - {name: login-b, capacity_rps: 100000, backends: [{url: "` + b1.URL() + `", zone: z4}]}
tenants: {default_shard: us}
` + fastSettings
	te := startEdge(t, routes, edgeOpts{})
	for _, b := range bs[:3] {
		b.setMode(mode5xx)
	}
	s := runLoad(context.Background(), te.client, te.public, 2, 600, 0)
	if s.getFail != 0 {
		t.Fatalf("failures %v", s.failures)
	}
	ejected, maxAtOnce := 0, 0
	for _, ev := range te.events.list(0, KindHealth, 0) {
		switch ev.Action {
		case "eject_backend":
			ejected++
		case "return_backend":
			ejected--
		}
		maxAtOnce = max(maxAtOnce, ejected)
	}
	clusterOut := false // an ejection of the whole cluster (it may be back by now)
	for _, ev := range te.events.list(0, KindHealth, 0) {
		clusterOut = clusterOut || (ev.Action == "eject_cluster" && ev.Target == "west/login-a")
	}
	if maxAtOnce != 2 || !clusterOut {
		t.Fatalf("backends ejected at once %d (want 2), cluster ejected %v; events %+v", maxAtOnce, clusterOut, te.events.list(0, KindHealth, 0))
	}
	if got := value(t, te.metrics.ejectionsCapped.WithLabelValues("west", "login-a")); got == 0 {
		t.Fatal("capped ejections not counted")
	}
}

// TestMetrics: the registry has the per-backend, per-cluster and per-region series.
func TestMetrics(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	runLoad(context.Background(), te.client, te.public, 2, 50, 0)
	reg := prometheus.NewRegistry()
	// With the constant labels every nines process has (internal/metrics): the edge's
	// series must not use their names.
	prometheus.WrapRegistererWith(prometheus.Labels{"role": "edge", "region": "west", "cluster": "", "zone": "z1"}, reg).
		MustRegister(te.Collectors()...)
	for _, name := range []string{
		"nines_edge_upstream_requests_total", "nines_edge_upstream_response_seconds", "nines_edge_backend_up",
		"nines_edge_cluster_weight", "nines_edge_cluster_available", "nines_edge_region_available",
		"nines_edge_cluster_requests_per_second", "nines_edge_cluster_capacity_rps",
	} {
		if n := seriesCount(t, reg, name); n == 0 {
			t.Errorf("%s: no series", name)
		}
	}
	if got := value(t, te.metrics.attempts.WithLabelValues("west", "login-a", tc.a1.URL(), "ok")); got == 0 {
		t.Error("no ok attempts counted for a1")
	}
	if n := seriesCount(t, reg, "nines_edge_backend_up"); n != 6 {
		t.Errorf("backend_up series %d, want 6", n)
	}
}
