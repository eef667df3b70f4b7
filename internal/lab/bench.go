package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/password"
)

// Baselines: what bounds each flow, measured in the same run on the same machine.
const (
	// BaselineHello is a hello-world net/http handler on loopback, called with a
	// keep-alive client: the floor of any HTTP request.
	BaselineHello = "hello"
	// BaselineArgon2id is password.Hasher.Verify at the production parameters
	// (password.OWASP) and hashing bound (GOMAXPROCS slots): one per password sign-in.
	BaselineArgon2id = "argon2id"
	// BaselineRS256 and BaselineES256 sign access-token-sized claims with go-jose, as the
	// token endpoint does (RSA 2048, P-256).
	BaselineRS256 = "rs256_sign"
	BaselineES256 = "es256_sign"
)

// AllBaselines in report order.
var AllBaselines = []string{BaselineHello, BaselineArgon2id, BaselineRS256, BaselineES256}

// boundOf is the baseline each flow is compared with: what dominates its cost.
var boundOf = map[Flow]string{
	FlowPassword:          BaselineArgon2id, // one verify
	FlowSSO:               BaselineRS256,    // an access token and an ID token
	FlowRefresh:           BaselineRS256,    // the same
	FlowClientCredentials: BaselineRS256,    // one access token
	FlowUserinfo:          BaselineHello,    // a verify (cheap) and a read
}

// BenchTarget is one deployment to measure.
type BenchTarget struct {
	Name   string // "all", "lab"…
	Target Target
}

// BenchConfig shapes a benchmark. Zero fields take the defaults shown.
type BenchConfig struct {
	Targets     []BenchTarget
	Flows       []Flow   // default EndUserFlows
	Baselines   []string // default AllBaselines; empty after defaults only when set to []string{}
	Concurrency []int    // closed-loop clients per step (default 1, 4, 16)
	Step        time.Duration
	// MaxTime bounds the whole benchmark (default 10 min): steps that would start after
	// it are skipped and reported as such.
	MaxTime  time.Duration
	Timeout  time.Duration // one flow (default DefaultTimeout)
	Progress io.Writer     // one line per step, if set
}

// BenchRow is one step: a flow (or baseline) of a target at a concurrency.
type BenchRow struct {
	Target      string  `json:"target"` // "baseline" for the baselines
	Flow        string  `json:"flow"`
	Concurrency int     `json:"concurrency"`
	Ops         int     `json:"ops"` // successful operations
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	// Bound is the baseline this flow is compared with, measured for half a step just
	// before and just after it at the same concurrency; Ratio is the flow's ops/s over
	// the mean of the two (the fraction of what the bound allows).
	Bound       string  `json:"bound,omitempty"`
	BoundBefore float64 `json:"bound_ops_per_sec_before,omitempty"`
	BoundAfter  float64 `json:"bound_ops_per_sec_after,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	// VsFirst is this row's ops/s over the first target's for the same flow and
	// concurrency (the topology against all).
	VsFirst  float64 `json:"vs_first_target,omitempty"`
	FirstErr string  `json:"first_error,omitempty"`
	Skipped  bool    `json:"skipped,omitempty"`
}

// BenchReport is a whole benchmark.
type BenchReport struct {
	StartedAt   time.Time  `json:"started_at"`
	Host        BenchHost  `json:"host"`
	StepSeconds float64    `json:"step_seconds"`
	Rows        []BenchRow `json:"rows"`
}

// BenchHost says where the numbers come from.
type BenchHost struct {
	CPU        string `json:"cpu"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	Go         string `json:"go"`
}

// Defaults of BenchConfig.
const (
	DefaultBenchStep    = 2 * time.Second
	DefaultBenchMaxTime = 10 * time.Minute
)

// Bench measures every baseline, then every flow of every target, at every
// concurrency: each step runs that many clients in a closed loop (each starts its next
// operation when the last ends) for cfg.Step, and reports the successful operations per
// second and their p50/p99 latency. The baselines run in this process, between the
// same walls as the targets, so ratios compare like with like on a shared machine.
func Bench(ctx context.Context, cfg BenchConfig) (BenchReport, error) {
	if cfg.Flows == nil {
		cfg.Flows = EndUserFlows
	}
	if cfg.Baselines == nil {
		cfg.Baselines = AllBaselines
	}
	if len(cfg.Concurrency) == 0 {
		cfg.Concurrency = []int{1, 4, 16}
	}
	if cfg.Step <= 0 {
		cfg.Step = DefaultBenchStep
	}
	if cfg.MaxTime <= 0 {
		cfg.MaxTime = DefaultBenchMaxTime
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	for _, c := range cfg.Concurrency {
		if c < 1 || c > 1024 {
			return BenchReport{}, fmt.Errorf("bench: concurrency %d: want 1 to 1024", c)
		}
	}
	b := &bencher{ctx: ctx, cfg: cfg, start: time.Now(), ops: map[string]benchOp{}}
	b.rep = BenchReport{StartedAt: b.start, Host: benchHost(), StepSeconds: cfg.Step.Seconds()}
	b.deadline = b.start.Add(cfg.MaxTime)
	defer func() {
		for _, f := range b.cleanups {
			f()
		}
	}()
	for _, name := range cfg.Baselines {
		op, err := b.baseline(name)
		if err != nil {
			return b.rep, err
		}
		for _, conc := range cfg.Concurrency {
			b.step("baseline", name, conc, cfg.Step, op, nil)
		}
	}
	for _, bt := range cfg.Targets {
		if err := b.target(bt); err != nil {
			return b.rep, err
		}
	}
	b.rep.ratios()
	return b.rep, nil
}

// benchOp is one operation of a step; it returns its latency.
type benchOp func(ctx context.Context) (time.Duration, error)

// bencher is a running benchmark.
type bencher struct {
	ctx             context.Context
	cfg             BenchConfig
	start, deadline time.Time
	rep             BenchReport
	ops             map[string]benchOp // the baselines set up so far
	cleanups        []func()
}

// baseline sets the named baseline up once and returns its operation.
func (b *bencher) baseline(name string) (benchOp, error) {
	if op, ok := b.ops[name]; ok {
		return op, nil
	}
	op, cleanup, err := baseline(b.ctx, name)
	if err != nil {
		return nil, err
	}
	b.ops[name] = op
	b.cleanups = append(b.cleanups, cleanup)
	return op, nil
}

// step runs one step and appends its row, or appends it skipped when it would end past
// the deadline (need is how long it takes, brackets included); first, if set, runs
// just before it.
func (b *bencher) step(target, flow string, conc int, need time.Duration, op benchOp, first func()) *BenchRow {
	row := BenchRow{Target: target, Flow: flow, Concurrency: conc}
	if time.Now().Add(need).After(b.deadline) || b.ctx.Err() != nil {
		row.Skipped = true
	} else {
		if first != nil {
			first()
		}
		row = runStep(b.ctx, row, b.cfg.Step, op)
	}
	b.rep.Rows = append(b.rep.Rows, row)
	if b.cfg.Progress != nil {
		fmt.Fprintln(b.cfg.Progress, row.line())
	}
	return &b.rep.Rows[len(b.rep.Rows)-1]
}

// target measures every flow of bt at every concurrency, each step bracketed by half a
// step of the flow's bound at the same concurrency: on a shared machine the ratio
// compares like with like only if both are measured under the same neighbours.
func (b *bencher) target(bt BenchTarget) error {
	cfg := b.cfg
	c, err := newLoadClient(b.ctx, bt.Target, cfg.Timeout, 2*slices.Max(cfg.Concurrency))
	if err != nil {
		return fmt.Errorf("bench %s: %w", bt.Name, err)
	}
	defer c.close()
	c.runID = "bench-" + b.start.UTC().Format("20060102T150405")
	// Enough sessions and refresh tokens for every client of the widest step.
	if err := c.warmup(b.ctx, slices.Max(cfg.Concurrency)+2); err != nil {
		return fmt.Errorf("bench %s: %w", bt.Name, err)
	}
	for _, f := range cfg.Flows {
		bound, err := b.baseline(boundOf[f])
		if err != nil {
			return err
		}
		flow := func(ctx context.Context) (time.Duration, error) {
			o := c.do(ctx, f, time.Now(), 0)
			if !o.OK {
				return o.Latency, fmt.Errorf("%s %s (%d): %s", o.Step, o.Class, o.Status, o.Err)
			}
			return o.Latency, nil
		}
		for _, conc := range cfg.Concurrency {
			var before BenchRow
			r := b.step(bt.Name, string(f), conc, 2*cfg.Step, flow,
				func() { before = runStep(b.ctx, BenchRow{Concurrency: conc}, cfg.Step/2, bound) })
			if r.Skipped {
				continue
			}
			after := runStep(b.ctx, BenchRow{Concurrency: conc}, cfg.Step/2, bound)
			r.Bound, r.BoundBefore, r.BoundAfter = boundOf[f], before.OpsPerSec, after.OpsPerSec
			if m := (before.OpsPerSec + after.OpsPerSec) / 2; m > 0 {
				r.Ratio = r.OpsPerSec / m
			}
		}
	}
	return nil
}

// runStep runs op with conc clients in a closed loop for d.
func runStep(ctx context.Context, row BenchRow, d time.Duration, op benchOp) BenchRow {
	var (
		mu       sync.Mutex
		lat      []float64
		errs     int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range row.Concurrency {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				l, err := op(ctx)
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					lat = append(lat, float64(l)/float64(time.Millisecond))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	row.Seconds = time.Since(start).Seconds()
	slices.Sort(lat)
	row.Ops, row.Errors = len(lat), errs
	row.OpsPerSec = float64(len(lat)) / row.Seconds
	row.P50ms, row.P99ms = valueOr0(nearestRank(lat, 0.5)), valueOr0(nearestRank(lat, 0.99))
	if firstErr != nil {
		row.FirstErr = firstErr.Error()
		if len(row.FirstErr) > 300 {
			row.FirstErr = row.FirstErr[:300]
		}
	}
	return row
}

// ratios fills VsFirst.
func (rep *BenchReport) ratios() {
	first := map[string]float64{}
	firstTarget := ""
	for _, r := range rep.Rows {
		if r.Target != "baseline" && (firstTarget == "" || r.Target == firstTarget) {
			firstTarget = r.Target
			first[fmt.Sprintf("%s/%d", r.Flow, r.Concurrency)] = r.OpsPerSec
		}
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Target == "baseline" || r.Target == firstTarget || r.Skipped {
			continue
		}
		if v := first[fmt.Sprintf("%s/%d", r.Flow, r.Concurrency)]; v > 0 {
			r.VsFirst = r.OpsPerSec / v
		}
	}
}

func (r BenchRow) line() string {
	if r.Skipped {
		return fmt.Sprintf("%-9s %-19s c=%-3d skipped (max time)", r.Target, r.Flow, r.Concurrency)
	}
	s := fmt.Sprintf("%-9s %-19s c=%-3d %9.1f ops/s  p50 %8.2f ms  p99 %8.2f ms  errors %d", r.Target, r.Flow, r.Concurrency,
		r.OpsPerSec, r.P50ms, r.P99ms, r.Errors)
	if r.FirstErr != "" {
		s += "  first error: " + r.FirstErr
	}
	return s
}

// WriteTable prints the report.
func (rep BenchReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "nines lab bench, %s — %s, %d CPUs (GOMAXPROCS %d), %s %s/%s, %.1f s per step\n\n",
		rep.StartedAt.Format("2006-01-02 15:04 MST"), rep.Host.CPU, rep.Host.NumCPU, rep.Host.GOMAXPROCS, rep.Host.Go,
		rep.Host.GOOS, rep.Host.GOARCH, rep.StepSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tflow\tclients\tops/s\tp50 ms\tp99 ms\terrors\tbound\tbound ops/s\t× bound\t× first\t")
	for _, r := range rep.Rows {
		if r.Skipped {
			fmt.Fprintf(tw, "%s\t%s\t%d\tskipped\t\t\t\t\t\t\t\t\n", r.Target, r.Flow, r.Concurrency)
			continue
		}
		ratio, vs, bound := "", "", ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.3f", r.Ratio)
			bound = fmt.Sprintf("%.1f…%.1f", r.BoundBefore, r.BoundAfter)
		}
		if r.VsFirst > 0 {
			vs = fmt.Sprintf("%.2f", r.VsFirst)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t\n", r.Target, r.Flow, r.Concurrency, r.OpsPerSec,
			r.P50ms, r.P99ms, r.Errors, r.Bound, bound, ratio, vs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n× bound: the flow's ops/s over its bound's, measured in this process for half a step just before and just"+
		" after the flow\n(bound ops/s: before…after) with as many clients (password: argon2id verify; sso, refresh,"+
		" client_credentials: RS256 signing;\nuserinfo: hello-world handler).")
	_, err := fmt.Fprintln(w, "× first: ops/s over the first target's for the same flow and clients (the topology against all).")
	return err
}

// WriteJSON writes the report to path.
func (rep BenchReport) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// baseline returns the operation of a baseline and what releases its resources.
func baseline(ctx context.Context, name string) (benchOp, func(), error) {
	timed := func(f func(context.Context) error) benchOp {
		return func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			err := f(ctx)
			return time.Since(t), err
		}
	}
	switch name {
	case BaselineHello:
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hello, world\n")
		}))
		tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1024}
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		return timed(func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return errors.New(resp.Status)
				}
				return nil
			}), func() {
				tr.CloseIdleConnections()
				srv.Close()
			}, nil
	case BaselineArgon2id:
		h := password.New(password.Config{Params: password.OWASP, MaxWait: time.Minute})
		const pw = "correct horse battery staple"
		hash, err := h.Hash(ctx, pw)
		if err != nil {
			return nil, nil, err
		}
		return timed(func(ctx context.Context) error {
			ok, _, err := h.Verify(ctx, pw, hash)
			if err == nil && !ok {
				err = errors.New("the password did not verify")
			}
			return err
		}), func() {}, nil
	case BaselineRS256, BaselineES256:
		var (
			key any
			alg jose.SignatureAlgorithm
			err error
		)
		if name == BaselineRS256 {
			key, err = rsa.GenerateKey(rand.Reader, keys.RSABits)
			alg = jose.RS256
		} else {
			key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			alg = jose.ES256
		}
		if err != nil {
			return nil, nil, err
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "bench"))
		if err != nil {
			return nil, nil, err
		}
		// The claims of an RFC 9068 access token as the token endpoint mints them.
		claims, _ := json.Marshal(map[string]any{"iss": "http://127.0.0.1:8080/t/acme", "sub": "0192f7c4-1d2e-7abc-8def-0123456789ab",
			"aud": []string{"web"}, "client_id": "web", "exp": time.Now().Add(10 * time.Minute).Unix(), "iat": time.Now().Unix(),
			"jti": "Yk3Jb1Vv0r9xk8Jz6mS3rA", "scope": "openid profile email offline_access", "auth_time": time.Now().Unix(),
			"gid": "q1w2e3r4t5y6u7i8o9p0aa"})
		return timed(func(context.Context) error {
			jws, err := signer.Sign(claims)
			if err == nil {
				_, err = jws.CompactSerialize()
			}
			return err
		}), func() {}, nil
	}
	return nil, nil, fmt.Errorf("bench: unknown baseline %q (want one of %s)", name, strings.Join(AllBaselines, ", "))
}

// benchHost describes this machine.
func benchHost() BenchHost {
	h := BenchHost{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		Go: runtime.Version(), CPU: "unknown CPU"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}
