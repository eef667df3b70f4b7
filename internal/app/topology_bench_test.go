package app

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/apply"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/testenv"
)

// BenchmarkTopologySignIn measures, in one run, the full sign-in flow on the `all` role
// (SQLite, embedded NATS, in-process worker) and on the split topology (admin on a
// PostgreSQL primary, a worker, a login process on two streaming replicas only, an
// external NATS server), against the raw argon2id verification that bounds both:
//
//	go test -run '^$' -bench BenchmarkTopologySignIn -benchtime 200x -count 2 ./internal/app/
//
// Sub-benchmarks:
//   - argon2id: password.Hasher.Verify at the production parameters (password.OWASP)
//     and the production hashing bound (GOMAXPROCS slots), benchClients at a time.
//   - all, split: one op is one sign-in as signInRig.signInOnce (failure_test.go)
//     drives it — authorize with prompt=login → the hosted form → POST the password
//     (one argon2id verify) → the callback's code → the token endpoint with the PKCE
//     verifier → a verified ID token — by benchClients browsers at a time, each with
//     its own cookie jar.
//
// Each reports ops per second (signins/s or verifies/s) and the p50/p99 of one op's
// duration; all and split also report cmd-p50-ms and cmd-p99-ms: the end-to-end
// latency of the user.signed_in commands those sign-ins issued, from the command's
// issue time (Command.At, which is also the event's at) to the worker's record of it in
// applied_commands.applied_at, written inside the transaction that applies it (the
// commit follows in the same transaction), read from the database for every command
// applied. The worker's histogram nines_worker_command_latency_seconds (issue → commit)
// must have observed each of them exactly once; its mean is logged next to the
// samples' mean. all reports ratio-to-argon2id, split ratio-to-all and ratio-to-argon2id:
// its throughput over that of the other sub-benchmark's run of the same -count index.
// Because those runs are tens of seconds apart on a machine others share, all and split
// also report frac-of-hash-rate: sign-ins/s over the mean of two argon2id rates
// (bracketVerifies verifications each, untimed) measured just before and just after
// the load, with the topology up; the log shows both so that drift is visible.
//
// Setup (PostgreSQL, NATS, the processes, the tenant) runs before b.Loop, which resets
// the timer; with b.Loop each sub-benchmark's function runs once per -count. Nothing
// here runs without -bench. Speed is reported, never asserted; a failed sign-in or a
// command not applied once fails the benchmark.
func BenchmarkTopologySignIn(b *testing.B) {
	var argon, all, split []loadResult // the n-th run of each, for the ratios of the n-th -count
	b.Run("argon2id", func(b *testing.B) { argon = append(argon, benchArgon2id(b)) })
	b.Run("all", func(b *testing.B) {
		r := benchSignIns(b, startAllTopology(b))
		reportRatio(b, r, "argon2id", argon, len(all))
		all = append(all, r)
	})
	b.Run("split", func(b *testing.B) {
		r := benchSignIns(b, startSplitTopology(b))
		reportRatio(b, r, "all", all, len(split))
		reportRatio(b, r, "argon2id", argon, len(split))
		split = append(split, r)
	})
}

// reportRatio reports r's throughput divided by that of base's i-th run, when base
// ran that often (a -bench pattern may have left it out).
func reportRatio(b *testing.B, r loadResult, name string, base []loadResult, i int) {
	if i < len(base) && base[i].rate() > 0 {
		b.ReportMetric(r.rate()/base[i].rate(), "ratio-to-"+name)
	}
}

// Load shape of BenchmarkTopologySignIn.
const (
	benchClients = 4 // sign-ins (or hashes) in flight at once, in every sub-benchmark
	// benchMaxFailures: past this many failed ops the rest fail at once, so a broken
	// setup ends the benchmark quickly instead of waiting out every HTTP timeout.
	benchMaxFailures = 10
	// benchPolls × benchPollEvery bounds every wait for a state to be reached.
	benchPolls     = 600
	benchPollEvery = 100 * time.Millisecond
)

// loadResult is what one sub-benchmark run measured.
type loadResult struct {
	ops            int
	elapsed        time.Duration
	p50, p99       time.Duration // of one op
	cmdP50, cmdP99 time.Duration // of the commands the ops issued (sign-ins only)
}

func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// opPool runs ops benchClients at a time: op receives the index of the client it runs
// as (0 ≤ client < benchClients). It records each op's duration and failure.
type opPool struct {
	op   func(client int) error
	free chan int
	wg   sync.WaitGroup

	mu        sync.Mutex
	durations []time.Duration
	failures  []string
}

func newOpPool(op func(client int) error) *opPool {
	p := &opPool{op: op, free: make(chan int, benchClients)}
	for i := range benchClients {
		p.free <- i
	}
	return p
}

// dispatch waits for a free client and starts one op on it.
func (p *opPool) dispatch() {
	c := <-p.free
	p.wg.Go(func() {
		defer func() { p.free <- c }()
		p.mu.Lock()
		broken := len(p.failures) >= benchMaxFailures
		p.mu.Unlock()
		err := errors.New("skipped after too many failures")
		t0 := time.Now()
		if !broken {
			err = p.op(c)
		}
		d := time.Since(t0)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.failures = append(p.failures, fmt.Sprintf("client %d: %v", c, err))
			return
		}
		p.durations = append(p.durations, d)
	})
}

// result waits for the ops in flight and returns what the pool measured since start;
// an error names the first failures.
func (p *opPool) result(start time.Time) (loadResult, error) {
	p.wg.Wait()
	r := loadResult{ops: len(p.durations), elapsed: time.Since(start)}
	if len(p.failures) > 0 {
		return r, fmt.Errorf("%d of %d ops failed; first:\n%s", len(p.failures), len(p.failures)+len(p.durations),
			strings.Join(p.failures[:min(len(p.failures), 5)], "\n"))
	}
	r.p50, r.p99 = percentile(p.durations, 0.50), percentile(p.durations, 0.99)
	return r, nil
}

// runLoad runs op b.Loop times through an opPool and fails b for any failed op. The ops
// still in flight when b.Loop ends are timed too.
func runLoad(b *testing.B, op func(client int) error) loadResult {
	p := newOpPool(op)
	b.ResetTimer() // b.Loop does it too: nothing before this line is measured
	start := time.Now()
	for b.Loop() {
		p.dispatch()
	}
	b.StartTimer() // b.Loop stopped it; the ops in flight belong to the measurement
	r, err := p.result(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// percentile is the nearest-rank q-quantile of ds (0 when ds is empty). It sorts ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(float64(len(ds))*q)) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// verifyOp is one argon2id verification of the sign-in password against its hash with
// a hasher like the login tier's (production parameters and bound on concurrent
// hashing), as the hosted form's POST does once per sign-in.
func verifyOp(tb testing.TB) func(int) error {
	h := password.New(password.Config{})
	const pw = "correct horse battery staple"
	hash, err := h.Hash(tb.Context(), pw)
	if err != nil {
		tb.Fatal(err)
	}
	return func(int) error {
		ok, _, err := h.Verify(context.Background(), pw, hash)
		if err == nil && !ok {
			err = errors.New("the password did not verify")
		}
		return err
	}
}

// benchArgon2id is the raw hashing baseline: verifyOp b.Loop times.
func benchArgon2id(b *testing.B) loadResult {
	r := runLoad(b, verifyOp(b))
	b.ReportMetric(r.rate(), "verifies/s")
	b.ReportMetric(ms(r.p50), "p50-ms")
	b.ReportMetric(ms(r.p99), "p99-ms")
	return r
}

// bracketVerifies is how many verifyOps measure the hash rate just before and just
// after a sign-in load (see benchSignIns).
const bracketVerifies = 48

// hashRate runs bracketVerifies verifyOps through an opPool and returns their rate.
func hashRate(b *testing.B, op func(int) error) float64 {
	p := newOpPool(op)
	start := time.Now()
	for range bracketVerifies {
		p.dispatch()
	}
	r, err := p.result(start)
	if err != nil {
		b.Fatal(err)
	}
	return r.rate()
}

// benchTopology is a deployment ready for sign-ins.
type benchTopology struct {
	flow *signinFlow
	// transport carries every request of the flow and the browsers.
	transport *http.Transport
	// workerBase is the process whose /metrics holds the worker's histogram.
	workerBase string
	// commandLatencies reads, for every user.signed_in command applied, its applied
	// record's time minus its issue time.
	commandLatencies func(ctx context.Context) ([]time.Duration, error)
}

// benchSignIns runs the sign-in load on tp and then measures the commands it issued.
func benchSignIns(b *testing.B, tp *benchTopology) loadResult {
	browsers := make([]*http.Client, benchClients)
	rp := tp.flow.rp
	for i := range browsers {
		jar, err := cookiejar.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		browsers[i] = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: tp.transport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if strings.HasPrefix(req.URL.String(), rp+"/") || len(via) >= 10 {
					return http.ErrUseLastResponse
				}
				return nil
			}}
	}
	rig := &signInRig{flow: tp.flow} // signInOnce needs only the flow
	verify := verifyOp(b)
	// The machine is shared: the hash rate is measured right before and right after the
	// load, untimed, so that the load's share of it compares like with like.
	hashBefore := hashRate(b, verify)
	r := runLoad(b, func(c int) error { return rig.signInOnce(browsers[c]) })
	hashAfter := hashRate(b, verify)

	// Every sign-in issued one user.signed_in command: wait (bounded) until the worker
	// applied them all, then read their latencies.
	var lat []time.Duration
	for i := 0; ; i++ {
		var err error
		if lat, err = tp.commandLatencies(b.Context()); err != nil {
			b.Fatalf("command latencies: %v", err)
		}
		if len(lat) >= r.ops {
			break
		}
		if i == benchPolls {
			b.Fatalf("%d user.signed_in commands applied, want %d", len(lat), r.ops)
		}
		time.Sleep(benchPollEvery)
	}
	if len(lat) != r.ops {
		b.Fatalf("%d user.signed_in commands applied, want exactly %d", len(lat), r.ops)
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	hist := workerLatencyHistogram(b, tp.workerBase, r.ops)
	if hist.count != r.ops {
		b.Errorf("nines_worker_command_latency_seconds{type=user.signed_in} counted %d commands, want %d", hist.count, r.ops)
	}
	r.cmdP50, r.cmdP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	b.Logf("%d sign-ins in %v; command latency: samples (issue → applied record) mean %.2f ms; "+
		"histogram (issue → commit) mean %.2f ms, p50 ≤ %s, p99 ≤ %s",
		r.ops, r.elapsed.Round(time.Millisecond), ms(sum/time.Duration(len(lat))), ms(hist.mean()),
		hist.bound(0.50), hist.bound(0.99))
	b.Logf("hash rate around the load: %.1f verifies/s before, %.1f after", hashBefore, hashAfter)
	b.ReportMetric(r.rate(), "signins/s")
	b.ReportMetric(r.rate()/((hashBefore+hashAfter)/2), "frac-of-hash-rate")
	b.ReportMetric(ms(r.p50), "p50-ms")
	b.ReportMetric(ms(r.p99), "p99-ms")
	b.ReportMetric(ms(r.cmdP50), "cmd-p50-ms")
	b.ReportMetric(ms(r.cmdP99), "cmd-p99-ms")
	return r
}

// latencyHistogram is the worker's nines_worker_command_latency_seconds series for
// user.signed_in as one process exported it.
type latencyHistogram struct {
	count   int
	sum     float64 // seconds
	buckets []latencyBucket
}

type latencyBucket struct {
	le  float64 // upper bound, seconds
	cum int     // observations ≤ le
}

func (h latencyHistogram) mean() time.Duration {
	return time.Duration(h.sum / float64(max(h.count, 1)) * float64(time.Second))
}

// bound is the upper bound of the bucket that holds the q-quantile: the histogram says
// only that the quantile is at most that.
func (h latencyHistogram) bound(q float64) string {
	rank := int(math.Ceil(q * float64(h.count)))
	for _, bk := range h.buckets {
		if bk.cum >= rank {
			return strconv.FormatFloat(bk.le*1e3, 'g', 4, 64) + " ms"
		}
	}
	return "+Inf"
}

// workerLatencyHistogram scrapes base/metrics until the worker's latency histogram for
// user.signed_in has counted want commands (bounded: the histogram is observed just
// after the commit that made the event visible), and returns it.
func workerLatencyHistogram(b *testing.B, base string, want int) latencyHistogram {
	const name = "nines_worker_command_latency_seconds"
	var h latencyHistogram
	for range benchPolls {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
		}
		h = latencyHistogram{}
		for sc := bufio.NewScanner(bytes.NewReader(body)); sc.Scan(); {
			line := sc.Text()
			if !strings.Contains(line, `type="user.signed_in"`) {
				continue
			}
			field := line[strings.LastIndexByte(line, ' ')+1:]
			switch {
			case strings.HasPrefix(line, name+"_count{"):
				h.count, err = strconv.Atoi(field)
			case strings.HasPrefix(line, name+"_sum{"):
				h.sum, err = strconv.ParseFloat(field, 64)
			case strings.HasPrefix(line, name+"_bucket{"):
				_, le, ok := strings.Cut(line, `,le="`) // not role="
				if !ok {
					_, le, _ = strings.Cut(line, `{le="`)
				}
				le, _, _ = strings.Cut(le, `"`)
				var bk latencyBucket
				if bk.le, err = strconv.ParseFloat(le, 64); err == nil {
					bk.cum, err = strconv.Atoi(field)
				}
				h.buckets = append(h.buckets, bk)
			}
			if err != nil {
				b.Fatalf("/metrics: %q: %v", line, err)
			}
		}
		if h.count >= want {
			return h
		}
		time.Sleep(benchPollEvery)
	}
	return h
}

// startAllTopology starts the all role on a fresh data directory with the tenant of
// the sign-in tests.
func startAllTopology(b *testing.B) *benchTopology {
	cfg := benchConfig(b, filepath.Join(b.TempDir(), "all"), nil)
	base := benchProcess(b, "all", Options{Config: cfg, Role: RoleAll})
	tp := newBenchTopology(b, base, base, base)
	db, err := sql.Open("sqlite", "file:"+cfg.SQLitePath()+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	tp.commandLatencies = func(ctx context.Context) ([]time.Duration, error) {
		rows, err := db.QueryContext(ctx, `SELECT e.at, a.applied_at FROM events e
			JOIN applied_commands a ON a.id = e.id WHERE e.type = 'user.signed_in'`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []time.Duration
		for rows.Next() {
			var at, applied int64 // Unix microseconds (sqlite.Dialect)
			if err := rows.Scan(&at, &applied); err != nil {
				return nil, err
			}
			out = append(out, time.Duration(applied-at)*time.Microsecond)
		}
		return out, rows.Err()
	}
	return tp
}

// startSplitTopology starts what failureEnv runs: a primary with two streaming
// replicas, an external NATS server, admin on the primary, a worker, and a login
// process on the replicas only; then the tenant, applied through the admin process.
func startSplitTopology(b *testing.B) *benchTopology {
	cluster := pgtest.Start(b, pgtest.Options{Replicas: 2})
	db := cluster.NewDatabase(b)
	ns, err := natsd.Start(b.Context(), natsd.Options{StoreDir: b.TempDir(), Listen: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)

	dir := b.TempDir()
	adminCfg := benchConfig(b, filepath.Join(dir, "admin"), func(c *config.Config) {
		c.DatabaseURL, c.KEK = db.PrimaryURL, testKEK
	})
	var migrateLog bytes.Buffer
	if err := Migrate(b.Context(), adminCfg, &migrateLog); err != nil {
		b.Fatalf("migrate: %v\n%s", err, migrateLog.String())
	}
	adminBase := benchProcess(b, "admin", Options{Config: adminCfg, Role: RoleAdmin})

	workerCfg := benchConfig(b, filepath.Join(dir, "worker"), func(c *config.Config) {
		c.DatabaseURL, c.NATSURL, c.KEK = db.PrimaryURL, ns.ClientURL(), testKEK
	})
	workerBase := benchProcess(b, "worker", Options{Config: workerCfg, Role: RoleWorker})

	// The tenant first, so that the login process finds it on the replicas.
	tp := newBenchTopology(b, adminBase, "", workerBase)
	if err := cluster.WaitReplicated(b.Context()); err != nil {
		b.Fatal(err)
	}
	loginCfg := benchConfig(b, filepath.Join(dir, "login"), func(c *config.Config) {
		c.ReplicaURLs, c.NATSURL, c.KEK, c.ReplicaOnly = db.ReplicaURLs, ns.ClientURL(), testKEK, true
	})
	loginBase := benchProcess(b, "login", Options{Config: loginCfg, Role: RoleLogin})
	waitReady(b, loginBase)
	tp.discover(b, loginBase)

	conn, err := pgx.Connect(b.Context(), db.PrimaryURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	tp.commandLatencies = func(ctx context.Context) ([]time.Duration, error) {
		rows, err := conn.Query(ctx, `SELECT e.at, a.applied_at FROM events e
			JOIN applied_commands a ON a.id = e.id::text WHERE e.type = 'user.signed_in'`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []time.Duration
		for rows.Next() {
			var at, applied time.Time
			if err := rows.Scan(&at, &applied); err != nil {
				return nil, err
			}
			out = append(out, applied.Sub(at))
		}
		return out, rows.Err()
	}
	return tp
}

// newBenchTopology registers the relying party's client in tenant acme through the
// admin API at adminBase and, when loginBase is not empty, discovers its issuer there.
func newBenchTopology(b *testing.B, adminBase, loginBase, workerBase string) *benchTopology {
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the benchmark's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	b.Cleanup(rp.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4 * benchClients
	b.Cleanup(tr.CloseIdleConnections)
	tp := &benchTopology{transport: tr, workerBase: workerBase,
		flow: &signinFlow{rp: rp.URL, conf: oauth2.Config{ClientID: "web", ClientSecret: benchApplyTenant(b, adminBase, rp.URL),
			RedirectURL: rp.URL + "/callback", Scopes: []string{gooidc.ScopeOpenID}}}}
	if loginBase != "" {
		tp.discover(b, loginBase)
	}
	return tp
}

// discover points the flow at the issuer of tenant acme on the login surface at base.
func (tp *benchTopology) discover(b *testing.B, base string) {
	issuer := base + "/t/acme"
	ctx := gooidc.ClientContext(b.Context(), &http.Client{Timeout: 30 * time.Second, Transport: tp.transport})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		b.Fatalf("discovery: %v", err)
	}
	tp.flow.ctx, tp.flow.issuer = ctx, issuer
	tp.flow.verifier = provider.Verifier(&gooidc.Config{ClientID: "web"})
	tp.flow.conf.Endpoint = provider.Endpoint()
}

// The helpers below do for a *testing.B what testConfig, start, applyTenant and
// pollLoginReadyz do for a *testing.T; they can go once those take a testing.TB.

// benchConfig is a configuration listening on a free loopback port, changed by set
// (nil: the embedded default), and validated.
func benchConfig(b *testing.B, dataDir string, set func(*config.Config)) config.Config {
	c := config.Config{HTTPAddr: "127.0.0.1:0", DataDir: dataDir, LogLevel: "info",
		ShutdownTimeout: 10 * time.Second, Environ: []string{}, BootstrapAdminToken: signinAdminToken}
	if set != nil {
		set(&c)
	}
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchProcess runs a nines process until the benchmark ends and returns its base URL
// once it reports ready. Its log is printed when the benchmark fails.
func benchProcess(b *testing.B, name string, o Options) string {
	ctx, cancel := context.WithCancel(context.Background())
	log := &testenv.Buffer{}
	o.Console, o.Log = io.Discard, log
	ready, done := make(chan string, 1), make(chan error, 1)
	o.Ready = func(addr, _ string) { ready <- "http://" + addr }
	go func() { done <- Run(ctx, o) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("%s: Run = %v", name, err)
		}
		if b.Failed() {
			b.Logf("%s log:\n%s", name, log.String())
		}
	})
	select {
	case base := <-ready:
		return base
	case err := <-done:
		done <- err // for the cleanup
		b.Fatalf("%s: Run returned before ready: %v\n%s", name, err, log.String())
	case <-time.After(2 * time.Minute):
		b.Fatalf("%s: not ready after 2 minutes:\n%s", name, log.String())
	}
	return ""
}

// waitReady polls base/readyz until it answers 200 "ready" (bounded).
func waitReady(b *testing.B, base string) {
	var last string
	for range benchPolls {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			var rd readiness
			err = json.NewDecoder(resp.Body).Decode(&rd)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK && rd.Status == "ready" {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, rd.Status)
		}
		time.Sleep(benchPollEvery)
	}
	b.Fatalf("%s/readyz never ready; last %s", base, last)
}

// benchApplyTenant runs nines apply with signinYAML against the admin API at base and
// returns the client secret of acme/web.
func benchApplyTenant(b *testing.B, base, rpURL string) string {
	dir := b.TempDir()
	file, secrets := filepath.Join(dir, "nines.yaml"), filepath.Join(dir, "secrets.jsonl")
	if err := os.WriteFile(file, fmt.Appendf(nil, signinYAML, rpURL), 0o600); err != nil {
		b.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := apply.Run(b.Context(), apply.Options{File: file, Server: base, Token: signinAdminToken, SecretsFile: secrets},
		&stdout, &stderr); err != nil {
		b.Fatalf("apply: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(secrets)
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		var s struct {
			Tenant       string `json:"tenant"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if json.Unmarshal([]byte(line), &s) == nil && s.Tenant == "acme" && s.ClientID == "web" && s.ClientSecret != "" {
			return s.ClientSecret
		}
	}
	b.Fatalf("no secret for acme/web in the secrets file; apply printed:\n%s", stdout.String())
	return ""
}
