package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/edge"
	"github.com/ninesid/nines/internal/testenv"
)

const ctlEdgeToken = "ctl-edge-test-token-0123456789abcdef"

// ctlEdge runs an edge (in process) in front of two login clusters of one backend each;
// login-b's declared capacity is capB requests/s. It returns the control API URL and a
// function that sends n GETs through the edge.
func ctlEdge(t *testing.T, capB int) (string, func(n int)) {
	t.Helper()
	backend := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
		t.Cleanup(s.Close)
		return s
	}
	a, b, adm := backend(), backend(), backend()
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	table := fmt.Sprintf(`
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: %q, zone: z1}]}
        clusters:
          - {name: login-a, capacity_rps: 100000, backends: [{url: %q, zone: z1}]}
          - {name: login-b, capacity_rps: %d, backends: [{url: %q, zone: z2}]}
tenants: {default_shard: us}
`, adm.URL, a.URL, capB, b.URL)
	if err := os.WriteFile(routes, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := edge.New(edge.Config{RoutesPath: routes, Region: "west", ControlToken: ctlEdgeToken, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { e.Run(ctx) })
	pub, ctl := httptest.NewServer(e), httptest.NewServer(e.ControlHandler())
	t.Cleanup(func() { cancel(); wg.Wait(); pub.Close(); ctl.Close() })
	return ctl.URL, func(n int) {
		for range n {
			resp, err := http.Get(pub.URL + "/t/acme/authorize")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
}

func TestCtlEdge(t *testing.T) {
	url, load := ctlEdge(t, 1)
	load(100) // about 10 requests/s over the edge's window: above login-b's capacity of 1
	tests := []struct {
		name       string
		args       []string
		token      string // default: the right one
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "status", args: []string{"status"}, wantStdout: []string{"region west (primary, choice 1): available yes",
			"login-a", "login-b", "zone z2: up"}},
		{name: "status as json", args: []string{"status", "--json"}, wantStdout: []string{`"regions":[`}},
		{name: "no token", args: []string{"status"}, token: "-", wantCode: 2, wantStderr: []string{"set NINES_EDGE_CONTROL_TOKEN"}},
		{name: "wrong token", args: []string{"status"}, token: "wrong-token-wrong-token-wrong-token", wantCode: 1,
			wantStderr: []string{"HTTP 401", "rejected the token"}},
		{name: "clear text to a remote host", args: []string{"status", "--server", "http://edge.example.com:8081"}, wantCode: 2,
			wantStderr: []string{"refusing to send the control token in clear text"}},
		{name: "drain refused by the pre-scale check", args: []string{"drain", "--cluster", "login-a", "--reason", "bad deploy"},
			wantCode: 1, wantStderr: []string{"pre-scale check FAILED", "west/login-b", "over capacity", "HTTP 409"}},
		{name: "drain forced", args: []string{"drain", "--cluster", "login-a", "--force", "--reason", "bad deploy"},
			wantStdout: []string{"drain_cluster west/login-a: forced", "pre-scale check FAILED (forced)"}},
		{name: "drain again", args: []string{"drain", "--cluster", "login-a", "--force"}, wantCode: 1,
			wantStderr: []string{"HTTP 409", "in that state already"}},
		{name: "drain needs a target", args: []string{"drain"}, wantCode: 2, wantStderr: []string{"--cluster"}},
		{name: "drain takes one target", args: []string{"drain", "--cluster", "login-a", "--zone", "z1"}, wantCode: 2,
			wantStderr: []string{"can't be used together"}},
		{name: "undrain what is not drained", args: []string{"undrain", "--zone", "z9"}, wantCode: 1,
			wantStderr: []string{"HTTP 409", "in that state already"}},
		{name: "undo", args: []string{"undo", "--reason", "recovered"}, wantStdout: []string{"undo drain_cluster west/login-a: ok"}},
		{name: "weights", args: []string{"weights", "login-a=90", "login-b=10"},
			wantStdout: []string{"set_weights west: ok", "pre-scale check passed", "west/login-b"}},
		{name: "bad weights", args: []string{"weights", "login-a:90"}, wantCode: 2, wantStderr: []string{"want cluster=weight"}},
		{name: "weights of an unknown cluster", args: []string{"weights", "login-z=1"}, wantCode: 1,
			wantStderr: []string{"HTTP 422", "not a login cluster of region west"}},
		{name: "shift", args: []string{"shift", "--cluster", "login-a", "--to", "100", "--step", "5", "--interval", "100ms", "--force"},
			wantStdout: []string{"shifting west/login-a from 90% to 100% by 5", "at 100% (done)"}},
		{name: "failover to an unknown region", args: []string{"failover", "--to", "mars"}, wantCode: 1,
			wantStderr: []string{"HTTP 422", `"mars" is not a region`}},
		{name: "events", args: []string{"events", "--kind", "change"}, wantStdout: []string{"drain_cluster west/login-a: refused",
			"drain_cluster west/login-a: forced (reason: bad deploy)", "undo", "shift_step west/login-a 100%: ok"}},
		{name: "reload", args: []string{"reload"}, wantStdout: []string{`"changed":true`}},
		{name: "two edges, the second down", args: []string{"drain", "--zone", "z2", "--force", "--server", "", "--server", "http://127.0.0.1:1"},
			wantCode: 1, wantStdout: []string{"drain_zone west/z2: ok"}, wantStderr: []string{"edge http://127.0.0.1:1", "(made on http://127.0.0.1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := ctlEdgeToken
			switch tt.token {
			case "-":
				token = ""
			case "":
			default:
				token = tt.token
			}
			t.Setenv("NINES_EDGE_CONTROL_TOKEN", token)
			args := append([]string{"ctl", "edge"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--server") {
				args = append(args, "--server", url)
			}
			for i, a := range args {
				if a == "" && i > 0 && args[i-1] == "--server" {
					args[i] = url
				}
			}
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			code := run(ctx, args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, &stdout, &stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, &stdout)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, &stderr)
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), ctlEdgeToken) {
				t.Fatal("the token was printed")
			}
		})
	}
}

// The two-cluster test with real processes: four `nines serve` (role all, standing in
// for login processes) as two login clusters of two, behind `nines serve --role=edge`.

var killWindow = flag.Duration("edge.kill-window", 30*time.Second,
	"how long TestEdgeClusterKill measures after killing a cluster (the acceptance criterion is the minute after: 60s)")

// ninesProc is a nines process started by a test.
type ninesProc struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	out    *testenv.Buffer
	exited chan error
}

// startNines starts the built binary with a clean environment plus env; it is killed at
// the end of the test.
func startNines(tb testing.TB, bin, name string, args []string, env ...string) *ninesProc {
	tb.Helper()
	p := &ninesProc{name: name, out: &testenv.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = tb.TempDir()
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitReady polls url until it answers 200, at most 60s (a wait for start-up, not an
// assertion on its speed).
func (p *ninesProc) waitReady(tb testing.TB, url string) {
	tb.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	for range 600 {
		select {
		case err := <-p.exited:
			tb.Fatalf("%s exited before ready: %v\n%s", p.name, err, p.out.String())
		default:
		}
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("%s never ready at %s\n%s", p.name, url, p.out.String())
}

const e2eAdminToken = "nines_e2e-admin-token-0123456789abcdefgh"

// startLoginCluster starts n `all` processes for cluster name, each with tenant acme.
func startLoginCluster(tb testing.TB, bin, cluster string, n int) []*ninesProc {
	tb.Helper()
	ps := make([]*ninesProc, n)
	for i := range ps {
		addr := testenv.FreeAddr(tb)
		ps[i] = startNines(tb, bin, fmt.Sprintf("%s-%d", cluster, i+1), []string{"serve"},
			"NINES_HTTP_ADDR="+addr, "NINES_DATA_DIR=./data", "NINES_BOOTSTRAP_ADMIN_TOKEN="+e2eAdminToken,
			"NINES_CLUSTER="+cluster, "NINES_REGION=west", "NINES_LOG_LEVEL=warn")
		ps[i].addr = addr
	}
	for _, p := range ps {
		p.waitReady(tb, "http://"+p.addr+"/readyz")
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/admin/v1/tenants",
			strings.NewReader(`{"slug":"acme","display_name":"Acme"}`))
		req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			tb.Fatalf("create tenant on %s: %d %s", p.name, resp.StatusCode, raw)
		}
	}
	return ps
}

func edgeBackendList(ps []*ninesProc) string {
	var parts []string
	for i, p := range ps {
		parts = append(parts, fmt.Sprintf(`{url: "http://%s", zone: z%d}`, p.addr, i%3+1))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// startEdgeProc writes the routing table and starts `nines serve --role=edge` on it.
func startEdgeProc(tb testing.TB, bin, routes string) (public, control string) {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
		tb.Fatal(err)
	}
	public, control = testenv.FreeAddr(tb), testenv.FreeAddr(tb)
	p := startNines(tb, bin, "edge", []string{"serve", "--role=edge"},
		"NINES_HTTP_ADDR="+public, "NINES_EDGE_CONTROL_ADDR="+control, "NINES_EDGE_ROUTES="+path,
		"NINES_EDGE_CONTROL_TOKEN="+ctlEdgeToken, "NINES_REGION=west", "NINES_DATA_DIR="+filepath.Join(dir, "data"),
		"NINES_LOG_LEVEL=warn")
	p.waitReady(tb, "http://"+public+"/readyz")
	return "http://" + public, "http://" + control
}

// pacedStats is what a paced load run saw, in 250ms buckets from its start.
type pacedStats struct {
	mu       sync.Mutex
	start    time.Time
	ok, fail map[int]int // completed, per loadBucket
	sent     map[int]int // dispatched, per loadBucket
	failures []string
	skipped  int // ticks with maxInflight requests outstanding already
	lat      []time.Duration
}

const loadBucket = 250 * time.Millisecond

// runPaced sends rate requests per second for d (80% GET discovery, 10% GET keys, 10%
// POST token with an unknown client: a 401, not a failure), at most maxInflight at once.
// A failure is a transport error or a 5xx.
func runPaced(ctx context.Context, hc *http.Client, base string, rate int, d time.Duration, maxInflight int) *pacedStats {
	s := &pacedStats{start: time.Now(), ok: map[int]int{}, fail: map[int]int{}, sent: map[int]int{}}
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.After(d)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return s
		case <-end:
			wg.Wait()
			return s
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			s.mu.Lock()
			s.skipped++
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.sent[int(time.Since(s.start)/loadBucket)]++
		s.mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			var req *http.Request
			switch i % 10 {
			case 0:
				req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/t/acme/token",
					strings.NewReader("grant_type=client_credentials&client_id=nobody&client_secret=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			case 1:
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/t/acme/keys", nil)
			default:
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/t/acme/.well-known/openid-configuration", nil)
			}
			t0 := time.Now()
			resp, err := hc.Do(req)
			status := 0
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			lat := time.Since(t0)
			b := int(time.Since(s.start) / loadBucket)
			s.mu.Lock()
			defer s.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			if err != nil || status >= 500 {
				s.fail[b]++
				if len(s.failures) < 20 {
					s.failures = append(s.failures, fmt.Sprintf("%s %s at %s: %d %v", req.Method, req.URL.Path,
						time.Since(s.start).Round(time.Millisecond), status, err))
				}
				return
			}
			s.ok[b]++
			s.lat = append(s.lat, lat)
		})
	}
}

// window sums the buckets from time a to time b.
func (s *pacedStats) window(a, b time.Duration) (ok, fail int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := int(a / loadBucket); i < int(b/loadBucket); i++ {
		ok += s.ok[i]
		fail += s.fail[i]
	}
	return ok, fail
}

// TestEdgeClusterKill is the acceptance check of the edge: two login clusters of two real
// nines processes behind a real edge, steady paced load, then one whole cluster killed
// (SIGKILL). Over the window after the kill (-edge.kill-window, 30s in make test; the
// criterion is the minute after), fewer than 0.05% of requests may fail, and within 5
// seconds of the kill a whole second must pass with at least 90% of the requests sent in
// it answered with success (traffic back at full rate). The
// operator then drains the dead cluster with `nines ctl edge drain`, which the pre-scale
// check lets through: the other cluster carries the load already.
func TestEdgeClusterKill(t *testing.T) {
	bin := binary(t)
	a := startLoginCluster(t, bin, "login-a", 2)
	b := startLoginCluster(t, bin, "login-b", 2)
	routes := fmt.Sprintf(`
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://%s", zone: z1}]}
        clusters:
          - {name: login-a, capacity_rps: 5000, backends: %s}
          - {name: login-b, capacity_rps: 5000, backends: %s}
tenants: {default_shard: us}
`, a[0].addr, edgeBackendList(a), edgeBackendList(b))
	public, control := startEdgeProc(t, bin, routes)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()

	const rate = 200
	warm := 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), warm+*killWindow+30*time.Second)
	defer cancel()
	var s *pacedStats
	done := make(chan struct{})
	go func() { defer close(done); s = runPaced(ctx, hc, public, rate, warm+*killWindow, 64) }()
	time.Sleep(warm)
	for _, p := range a {
		_ = p.cmd.Process.Kill()
	}
	<-done
	killedAt := warm // the load started just before the sleep

	// The pre-kill rate: the last two seconds before the kill.
	preOK, preFail := s.window(warm-2*time.Second, warm)
	okN, failN := s.window(killedAt, killedAt+*killWindow)
	total := okN + failN
	preRate := float64(preOK) / 2
	// Back at full rate: the first second after the kill in which the requests answered
	// with success are at least 90% of the requests sent (the generator's own pace, which
	// a loaded machine can slow, is the reference).
	recovery := time.Duration(-1)
	first := int(killedAt / loadBucket)
	per := int(time.Second / loadBucket)
	for i := first; i+per <= int((killedAt+*killWindow)/loadBucket); i++ {
		ok, sent := 0, 0
		s.mu.Lock()
		for j := i; j < i+per; j++ {
			ok += s.ok[j]
			sent += s.sent[j]
		}
		s.mu.Unlock()
		if sent > 0 && float64(ok) >= 0.9*float64(sent) {
			recovery = time.Duration(i-first) * loadBucket
			break
		}
	}
	t.Logf("before the kill: %.0f ok/s, %d failed; %s after killing login-a: %d requests, %d failed (%.4f%%), %d ticks skipped; "+
		"successes back to >= 90%% of the requests sent within %s", preRate, preFail, *killWindow, total, failN, 100*float64(failN)/float64(max(total, 1)),
		s.skipped, recovery)
	if preFail != 0 || preOK < rate { // two seconds at rate/s: at least half of it
		t.Fatalf("unsteady before the kill: %d ok, %d failed: %v", preOK, preFail, s.failures)
	}
	if total < int(0.9*rate*killWindow.Seconds()) {
		t.Fatalf("only %d requests in the window after the kill (want about %.0f)", total, rate*killWindow.Seconds())
	}
	if float64(failN) >= 0.0005*float64(total) {
		t.Errorf("%d of %d requests failed after the kill (want under 0.05%%): %v", failN, total, s.failures)
	}
	if recovery < 0 || recovery > 5*time.Second {
		t.Errorf("the rate took %s to come back (want within 5s; -1ns: never)", recovery)
	}

	// The operator's view and action: login-a is out; drain it until it is rebuilt.
	t.Setenv("NINES_EDGE_CONTROL_TOKEN", ctlEdgeToken)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"ctl", "edge", "drain", "--cluster", "login-a", "--reason", "cluster lost",
		"--server", control}, &stdout, &stderr); code != 0 {
		t.Fatalf("drain: exit %d\n%s%s", code, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), "drain_cluster west/login-a: ok") || !strings.Contains(stdout.String(), "pre-scale check passed") {
		t.Fatalf("drain output:\n%s", &stdout)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"ctl", "edge", "status", "--server", control}, &stdout, &stderr); code != 0 {
		t.Fatalf("status: exit %d\n%s", code, &stderr)
	}
	for _, want := range []string{"UNHEALTHY", "drained: clusters [west/login-a]", "backend_unhealthy"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, &stdout)
		}
	}
}

// BenchmarkEdgeOverhead measures, in one run, GET discovery against one real nines
// process (role all, standing in for a login process) directly and through a real edge
// in front of it: requests/s and p50/p99 latency of each. Everything shares the machine,
// so the edge's own CPU competes with the client and the backend; compare the two
// sub-benchmarks of the same run:
//
//	go test ./cmd/nines -run '^$' -bench EdgeOverhead -benchtime 5s -count 3
func BenchmarkEdgeOverhead(b *testing.B) {
	bin, err := buildBinary()
	if err != nil {
		b.Fatal(err)
	}
	ps := startLoginCluster(b, bin, "login-a", 1)
	public, _ := startEdgeProc(b, bin, fmt.Sprintf(`
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://%s", zone: z1}]}
        clusters:
          - {name: login-a, capacity_rps: 100000, backends: %s}
tenants: {default_shard: us}
`, ps[0].addr, edgeBackendList(ps)))
	for _, tc := range []struct{ name, base string }{{"direct", "http://" + ps[0].addr}, {"edge", public}} {
		b.Run(tc.name, func(b *testing.B) {
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			defer hc.CloseIdleConnections()
			url := tc.base + "/t/acme/.well-known/openid-configuration"
			var mu sync.Mutex
			lats := make([]time.Duration, 0, b.N)
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					t0 := time.Now()
					resp, err := hc.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lats) == 0 {
				return
			}
			slices.Sort(lats)
			b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
		})
	}
}
