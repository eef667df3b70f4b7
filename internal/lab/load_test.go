package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/app"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/testenv"
)

const loadTestToken = "lab-load-test-admin-token-0123456789abcdef"

// lightMix is every flow with half the default share of password sign-ins, so that
// argon2id keeps up under the race detector on two shared cores.
func lightMix() Mix {
	m := DefaultMix()
	m[FlowPassword] = 10
	return m
}

// startAll runs the all role in this process on a fresh data directory, with
// publicURL as its public URL when not empty, and returns its base URL once ready.
func startAll(t *testing.T, publicURL string) string {
	t.Helper()
	cfg := config.Config{HTTPAddr: "127.0.0.1:0", PublicURL: publicURL, DataDir: t.TempDir(), LogLevel: "info",
		ShutdownTimeout: 10 * time.Second, Environ: []string{}, BootstrapAdminToken: loadTestToken}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := &testenv.Buffer{}
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Config: cfg, Role: app.RoleAll, Log: log, Console: io.Discard,
			Ready: func(addr, _ string) { ready <- "http://" + addr }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("all: Run = %v", err)
		}
		if t.Failed() {
			t.Logf("all's log:\n%s", log.String())
		}
	})
	select {
	case base := <-ready:
		return base
	case err := <-done:
		done <- err
		t.Fatalf("all: Run returned before ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("all: not ready after 2 minutes")
	}
	return ""
}

// provisionAll provisions the load's tenant on the all process at adminBase.
func provisionAll(t *testing.T, adminBase string) Target {
	t.Helper()
	tg, err := Provision(t.Context(), ProvisionConfig{AdminURL: adminBase, AdminToken: loadTestToken, Users: 3})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestLoadAgainstAll runs every flow at a low rate against the all role: each succeeds
// at least once and none fails, every due flow has exactly one outcome (in memory and
// in the JSONL), and every sign-in's command is applied exactly once.
func TestLoadAgainstAll(t *testing.T) {
	base := startAll(t, "")
	tg := provisionAll(t, base)
	if want := base + "/t/load"; tg.Issuer != want {
		t.Fatalf("provisioned issuer %q, want %q", tg.Issuer, want)
	}
	// A second Provision takes the tenant over: new secret, new passwords.
	tg2 := provisionAll(t, base)
	if tg2.Client.Secret == tg.Client.Secret || tg2.Users[0].Password == tg.Users[0].Password {
		t.Error("a second Provision did not renew the client's secret and the users' passwords")
	}
	tg = tg2

	var jsonl bytes.Buffer
	var progress atomic.Int32
	cfg := LoadConfig{Rate: 12, Duration: 3 * time.Second, AdminRate: 2, AdminCreateEvery: 3, Warmup: 4, Out: &jsonl, Mix: lightMix(),
		Progress: func(Progress) { progress.Add(1) }}
	res, err := RunLoad(t.Context(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled != 36 || res.AdminScheduled != 6 || res.Cancelled {
		t.Errorf("scheduled %d end-user and %d admin flows (cancelled %v), want 36 and 6", res.Scheduled, res.AdminScheduled, res.Cancelled)
	}
	if got, want := len(res.Outcomes), res.Scheduled+res.AdminScheduled; got != want {
		t.Errorf("%d outcomes, want one per scheduled flow: %d", got, want)
	}
	ok := map[Flow]int{}
	seqs := map[bool]map[int]bool{false: {}, true: {}}
	for _, o := range res.Outcomes {
		if o.OK {
			ok[o.Flow]++
		} else {
			t.Errorf("failed: %+v", o)
		}
		if seqs[o.Flow.Admin()][o.Seq] {
			t.Errorf("seq %d recorded twice", o.Seq)
		}
		seqs[o.Flow.Admin()][o.Seq] = true
		if o.Latency <= 0 || o.Start.Before(res.Start) {
			t.Errorf("outcome %+v: no latency or due before the start", o)
		}
	}
	for _, f := range append(EndUserFlows, FlowAdminList, FlowAdminCreate) {
		if ok[f] == 0 {
			t.Errorf("no %s succeeded (%v)", f, ok)
		}
	}
	if progress.Load() == 0 {
		t.Error("Progress was never called")
	}

	// The JSONL holds the same outcomes.
	n := 0
	for sc := bufio.NewScanner(&jsonl); sc.Scan(); n++ {
		var o Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil || o.Flow == "" {
			t.Fatalf("JSONL line %d: %v: %s", n+1, err, sc.Text())
		}
	}
	if n != len(res.Outcomes) {
		t.Errorf("%d JSONL lines, want %d", n, len(res.Outcomes))
	}

	// Every password sign-in (warm-up included) issued one command; the worker applies
	// them asynchronously.
	if want := cfg.Warmup + ok[FlowPassword]; res.Commands.Issued != want || res.Commands.Uncertain != 0 {
		t.Errorf("issued %+v, want %d and none uncertain", res.Commands, want)
	}
	cmds, err := AwaitCommands(t.Context(), tg, res, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !cmds.Measured || cmds.Applied != res.Commands.Issued || cmds.Lost != 0 || cmds.Duplicated != 0 {
		t.Errorf("commands %+v, want every one of the %d issued applied once", cmds, res.Commands.Issued)
	}
	card := Score(res, ScoreConfig{Commands: &cmds})
	if !card.Pass || card.EndUserFailed != 0 || card.EndUserRequests != 36 || card.AdminRequests != 6 {
		var tab bytes.Buffer
		_ = card.WriteTable(&tab)
		t.Errorf("scorecard:\n%s", tab.String())
	}

	// A short benchmark on the same target: one closed-loop client per flow.
	rep, err := Bench(t.Context(), BenchConfig{Targets: []BenchTarget{{Name: "all", Target: tg}}, Concurrency: []int{1},
		Step: 300 * time.Millisecond, Flows: []Flow{FlowPassword, FlowClientCredentials}, Baselines: []string{BaselineHello, BaselineArgon2id}})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]BenchRow{}
	for _, r := range rep.Rows {
		rows[r.Target+"/"+r.Flow] = r
	}
	for _, k := range []string{"baseline/hello", "baseline/argon2id", "all/password", "all/client_credentials"} {
		if r, ok := rows[k]; !ok || r.Ops == 0 || r.Errors != 0 || r.OpsPerSec <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms {
			t.Errorf("bench row %s: %+v (present %v), want ops, no error, p99 ≥ p50 > 0", k, r, ok)
		}
	}
	if r := rows["all/password"]; r.Bound != BaselineArgon2id || r.Ratio <= 0 {
		t.Errorf("password's row has no ratio to argon2id: %+v", r)
	}
}

// TestLoadScoresABrokenWindow puts a proxy in front of the all role and makes it answer
// 503 to everything for 2 s in the middle of the run: exactly the flows that overlap
// those 2 s fail, and the scorecard's window and mitigation time match them.
func TestLoadScoresABrokenWindow(t *testing.T) {
	var (
		broken atomic.Bool
		target atomic.Pointer[httputil.ReverseProxy]
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "broken on purpose", http.StatusServiceUnavailable)
			return
		}
		target.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	base := startAll(t, proxy.URL)
	u, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	rp.Transport = tr
	target.Store(rp)
	tg := provisionAll(t, base) // admin direct; the issuer is the proxy's
	if tg.Issuer != proxy.URL+"/t/load" {
		t.Fatalf("issuer %q, want the proxy's", tg.Issuer)
	}

	var (
		mu       sync.Mutex
		from, to time.Time
		flipped  bool
		offTimer *time.Timer
	)
	t.Cleanup(func() {
		if offTimer != nil {
			offTimer.Stop()
		}
	})
	// Few password sign-ins: under -race beside other packages' tests, argon2id is slow
	// and a hashing queue past 2 s would answer 503 on its own.
	cfg := LoadConfig{Rate: 15, Duration: 9 * time.Second, AdminRate: -1, Warmup: 4, Mix: lightMix(),
		Progress: func(p Progress) {
			if p.Elapsed < 2*time.Second || flipped {
				return
			}
			flipped = true
			mu.Lock()
			broken.Store(true)
			from = time.Now()
			mu.Unlock()
			offTimer = time.AfterFunc(2*time.Second, func() {
				mu.Lock()
				broken.Store(false)
				to = time.Now()
				mu.Unlock()
			})
		}}
	res, err := RunLoad(t.Context(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	bs, be := from, to
	mu.Unlock()
	if bs.IsZero() || be.IsZero() {
		t.Fatalf("the proxy was not switched (from %v to %v)", bs, be)
	}
	failed := 0
	for _, o := range res.Outcomes {
		inside := !o.Start.Before(bs) && !o.End().After(be)
		outside := o.End().Before(bs) || o.Start.After(be)
		switch {
		case !o.OK && (o.Class != ClassHTTP5xx || o.Status != http.StatusServiceUnavailable):
			t.Errorf("failed otherwise than with the proxy's 503: %+v", o)
		case !o.OK && outside:
			t.Errorf("failed outside the broken window [%v, %v]: %+v", bs.Sub(res.Start), be.Sub(res.Start), o)
		case o.OK && inside:
			t.Errorf("succeeded while the proxy answered 503 only: %+v", o)
		}
		if !o.OK {
			failed++
		}
	}
	if failed < 10 {
		t.Errorf("%d failed flows; 2 s at 15/s should fail about 30", failed)
	}

	cmds, err := AwaitCommands(t.Context(), tg, res, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Recovery after 3 healthy seconds (not the default 5) keeps the run short.
	card := Score(res, ScoreConfig{Scenario: ScenarioLoginClusterDown, Fault: FaultWindow{Start: bs, End: be}, Commands: &cmds,
		RecoverySeconds: 3})
	var tab bytes.Buffer
	_ = card.WriteTable(&tab)
	defer func() {
		if t.Failed() {
			t.Logf("broken from %.2f s to %.2f s\n%s", bs.Sub(res.Start).Seconds(), be.Sub(res.Start).Seconds(), tab.String())
		}
	}()
	if card.EndUserFailed != failed || card.Pass {
		t.Errorf("scorecard: %d failed, pass %v; want %d and a failed target", card.EndUserFailed, card.Pass, failed)
	}
	fs, fe := bs.Sub(res.Start).Seconds(), be.Sub(res.Start).Seconds()
	// The window opens at the fault (or at a flow in flight then, at most one timeout
	// earlier) and closes at the end of the second in which the last failed flow was due.
	lastDue := 0.0
	for _, o := range res.Outcomes {
		if !o.OK {
			lastDue = max(lastDue, o.Start.Sub(res.Start).Seconds())
		}
	}
	if w := card.ImpactWindow; w.StartS > fs || w.StartS < fs-DefaultTimeout.Seconds() || w.EndS != float64(int(lastDue)+1) || !w.Recovered {
		t.Errorf("impact window %+v, want from ≤ %.2f s to %d s, recovered", w, fs, int(lastDue)+1)
	}
	if card.TimeToMitigateS == nil || *card.TimeToMitigateS < fe-fs-1 || *card.TimeToMitigateS > fe-fs+1 {
		t.Errorf("time to mitigate %v, want within a second of the %.2f s the proxy was broken", fmtPtr(card.TimeToMitigateS), fe-fs)
	}
	if card.ImpactWindow.Failed != failed {
		t.Errorf("%d failures in the window, want all %d", card.ImpactWindow.Failed, failed)
	}
	// Nothing the proxy refused reached the server: every command is applied once.
	if cmds.Applied != res.Commands.Issued || cmds.Lost != 0 || cmds.Duplicated != 0 {
		t.Errorf("commands %+v, issued %+v", cmds, res.Commands)
	}
}

// TestLoadOverloadIsBounded makes the target hang for a second with at most 3 flows in
// flight: the flows due meanwhile are not started but recorded as overload failures,
// the target never sees more than 3 requests at once, and every due flow has exactly
// one outcome.
func TestLoadOverloadIsBounded(t *testing.T) {
	var (
		hang              atomic.Bool
		release           = make(chan struct{})
		target            atomic.Pointer[httputil.ReverseProxy]
		inFlight, maxSeen atomic.Int64
		hangFrom, hangTo  time.Time
		mu                sync.Mutex
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxSeen.Load(); n > m && !maxSeen.CompareAndSwap(m, n); m = maxSeen.Load() {
		}
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		target.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	base := startAll(t, proxy.URL)
	u, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	rp.Transport = tr
	target.Store(rp)
	tg := provisionAll(t, base)

	flipped := false
	cfg := LoadConfig{Rate: 20, Duration: 3 * time.Second, AdminRate: -1, MaxInFlight: 3, Warmup: 2, Mix: lightMix(),
		Progress: func(p Progress) {
			if p.Elapsed < time.Second || flipped {
				return
			}
			flipped = true
			mu.Lock()
			hang.Store(true)
			hangFrom = time.Now()
			mu.Unlock()
			time.AfterFunc(time.Second, func() {
				mu.Lock()
				hang.Store(false)
				close(release)
				hangTo = time.Now()
				mu.Unlock()
			})
		}}
	res, err := RunLoad(t.Context(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	from, to := hangFrom, hangTo
	mu.Unlock()
	if from.IsZero() || to.IsZero() {
		t.Fatal("the proxy never hung")
	}
	if len(res.Outcomes) != res.Scheduled || res.Scheduled != 60 {
		t.Errorf("%d outcomes for %d flows due, want 60 each", len(res.Outcomes), res.Scheduled)
	}
	// While the proxy hangs, the three slots fill with flows stuck on it, so at most 3
	// flows due during the hang were started; every other one there was refused. (Before
	// and after it a slow machine may refuse some too: that is not asserted on.)
	overload, startedInHang, dueInHang := 0, 0, 0
	seqs := map[int]bool{}
	for _, o := range res.Outcomes {
		if seqs[o.Seq] {
			t.Errorf("seq %d recorded twice", o.Seq)
		}
		seqs[o.Seq] = true
		inHang := !o.Start.Before(from) && o.Start.Before(to)
		if inHang {
			dueInHang++
		}
		switch {
		case o.Class == ClassOverload:
			overload++
			if o.OK || o.Latency != 0 {
				t.Errorf("an overload outcome that ran: %+v", o)
			}
		case !o.OK:
			t.Errorf("failed otherwise than by overload: %+v", o)
		case inHang:
			startedInHang++
		}
	}
	if startedInHang > 3 || dueInHang < 10 {
		t.Errorf("%d of the %d flows due during the hang were started; at most 3 can be", startedInHang, dueInHang)
	}
	if overload < dueInHang-3 {
		t.Errorf("%d overloads, want at least %d (every flow due during the hang but 3)", overload, dueInHang-3)
	}
	if m := maxSeen.Load(); m > 3 {
		t.Errorf("the target saw %d requests at once; the load allows 3 flows in flight", m)
	}
	card := Score(res, ScoreConfig{})
	if card.Failures[ClassOverload] != overload || card.EndUserFailed != overload {
		t.Errorf("scorecard failures %v, %d failed; want %d overloads", card.Failures, card.EndUserFailed, overload)
	}
}

// TestTargetFromState: every region's target has the lab's one issuer and dials that
// region's edge; the admin API stays the lab's.
func TestTargetFromState(t *testing.T) {
	const issuer = "http://127.0.0.1:8002/t/acme"
	st := State{Name: "t", Tenant: "acme", AdminURL: "http://127.0.0.1:8002", AdminToken: "tok", PublicURL: "http://127.0.0.1:8002",
		Client: Client{ID: "web", Secret: "s", RedirectURI: "http://127.0.0.1:9/cb"},
		Users:  []User{{Username: "alice", Password: "pw"}},
		Regions: []Region{{Name: "eu", EdgeURL: "http://127.0.0.1:8001/", Issuer: issuer},
			{Name: "us", Primary: true, EdgeURL: "http://127.0.0.1:8002", Issuer: issuer}}}
	for region, dial := range map[string]string{"": "127.0.0.1:8002", "us": "127.0.0.1:8002", "eu": "127.0.0.1:8001"} {
		tg, err := TargetFromState(st, region)
		if err != nil || tg.Issuer != issuer || tg.Dial != dial || tg.AdminURL != st.AdminURL || tg.Tenant != "acme" ||
			tg.Client.ID != "web" || len(tg.Users) != 1 {
			t.Errorf("region %q: %+v, %v; want issuer %s dialled at %s", region, tg, err, issuer, dial)
		}
	}
	// A state without issuers: the public URL's, else the primary region's edge's.
	st.Regions[0].Issuer, st.Regions[1].Issuer = "", ""
	if tg, err := TargetFromState(st, "eu"); err != nil || tg.Issuer != issuer || tg.Dial != "127.0.0.1:8001" {
		t.Errorf("without issuers: %+v, %v; want issuer %s dialled at the eu edge", tg, err, issuer)
	}
	st.PublicURL = ""
	if tg, err := TargetFromState(st, "eu"); err != nil || tg.Issuer != issuer || tg.Dial != "127.0.0.1:8001" {
		t.Errorf("without a public URL: %+v, %v; want issuer %s dialled at the eu edge", tg, err, issuer)
	}
	if _, err := TargetFromState(st, "mars"); err == nil {
		t.Error("an unknown region gave a target")
	}
	bad := st
	bad.AdminToken = ""
	if _, err := TargetFromState(bad, ""); err == nil {
		t.Error("a state without an admin token gave a target")
	}
	tg, _ := TargetFromState(st, "")
	for _, d := range []string{"127.0.0.1", ":8001", "127.0.0.1:", "http://127.0.0.1:8001"} {
		tg.Dial = d
		if err := tg.validate(); err == nil {
			t.Errorf("dial address %q was accepted", d)
		}
	}
}

// TestLoadClientDialsTheEdge: a load client whose target has Dial sends every request
// for the public host (discovery, authorize, the absolute URL the authorization
// redirected to, token, userinfo) to the Dial address, with the public URL and Host
// header, while admin API requests go where AdminURL says. Without Dial, the same
// client goes to the public address.
func TestLoadClientDialsTheEdge(t *testing.T) {
	var (
		mu         sync.Mutex
		publicSeen []string
		edgeSeen   []string
	)
	seen := func(to *[]string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		*to = append(*to, r.Method+" "+r.Host+r.URL.Path)
	}
	counts := func() (public, edge []string) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(publicSeen), slices.Clone(edgeSeen)
	}
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(&publicSeen, r)
		if strings.HasPrefix(r.URL.Path, "/admin/") {
			_, _ = io.WriteString(w, `{"users":[]}`)
			return
		}
		http.Error(w, "the public address was dialled", http.StatusTeapot)
	}))
	t.Cleanup(public.Close)
	pub := public.URL
	issuer := pub + "/t/acme"
	edgeMux := http.NewServeMux()
	edgeMux.HandleFunc("GET /t/acme/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
			"token_endpoint": issuer + "/token", "userinfo_endpoint": issuer + "/userinfo", "jwks_uri": issuer + "/keys",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	edgeMux.HandleFunc("GET /t/acme/authorize", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, issuer+"/login?id=1", http.StatusFound) // absolute, on the public host
	})
	edgeMux.HandleFunc("GET /t/acme/login", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "the login page")
	})
	edgeMux.HandleFunc("POST /t/acme/token", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":300}`)
	})
	edgeMux.HandleFunc("GET /t/acme/userinfo", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"sub":"u1"}`)
	})
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(&edgeSeen, r)
		edgeMux.ServeHTTP(w, r)
	}))
	t.Cleanup(edge.Close)
	edgeAddr := strings.TrimPrefix(edge.URL, "http://")
	pubHost := strings.TrimPrefix(pub, "http://")

	tg := Target{Issuer: issuer, Dial: edgeAddr, AdminURL: pub, AdminToken: "tok", Tenant: "acme",
		Client: Client{ID: "web", Secret: "s", RedirectURI: "http://127.0.0.1:9/cb"}, Users: []User{{Username: "u", Password: "p"}}}
	if err := tg.validate(); err != nil {
		t.Fatal(err)
	}
	c, err := newLoadClient(t.Context(), tg, 5*time.Second, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if c.authorize != issuer+"/authorize" || c.userinfo != issuer+"/userinfo" {
		t.Fatalf("discovered authorize %q and userinfo %q, want them at the public issuer", c.authorize, c.userinfo)
	}
	req, _ := http.NewRequest(http.MethodGet, c.authorizeURL(newAuthRequest()), nil)
	page, err := sendStep(t.Context(), c.browser(newJar()), req, "authorize")
	if err != nil || page.status != http.StatusOK || string(page.body) != "the login page" {
		t.Fatalf("authorize: %d %q, %v; want the login page", page.status, page.body, err)
	}
	if page.url.Host != pubHost || page.url.Path != "/t/acme/login" {
		t.Errorf("the redirect ended at %s, want the public URL %s/t/acme/login", page.url, pub)
	}
	if _, status, err := c.tokenRequest(t.Context(), url.Values{"grant_type": {"client_credentials"}}); err != nil {
		t.Errorf("token: %d, %v", status, err)
	}
	c.access.put(accessToken{value: "at", expiry: time.Now().Add(time.Hour)})
	if status, err := c.userInfo(t.Context()); err != nil {
		t.Errorf("userinfo: %d, %v", status, err)
	}
	pubGot, edgeGot := counts()
	if len(pubGot) != 0 {
		t.Errorf("the public address got %v, want nothing", pubGot)
	}
	want := []string{"GET " + pubHost + "/t/acme/.well-known/openid-configuration", "GET " + pubHost + "/t/acme/authorize",
		"GET " + pubHost + "/t/acme/login", "POST " + pubHost + "/t/acme/token", "GET " + pubHost + "/t/acme/userinfo"}
	if !slices.Equal(edgeGot, want) {
		t.Errorf("the edge got %v, want %v (each with the public Host)", edgeGot, want)
	}

	// The admin API is not redirected: it goes to AdminURL (here the public address).
	if status, err := c.adminListUsers(t.Context()); err != nil {
		t.Errorf("admin: %d, %v", status, err)
	}
	if pubGot, edgeGot := counts(); len(pubGot) != 1 || pubGot[0] != "GET "+pubHost+"/admin/v1/tenants/acme/users" || len(edgeGot) != len(want) {
		t.Errorf("after an admin request the public address got %v and the edge %d requests; want the admin request at the public address only",
			pubGot, len(edgeGot))
	}

	// Without Dial, discovery goes to the public address (which refuses it).
	tg.Dial = ""
	if c2, err := newLoadClient(t.Context(), tg, 5*time.Second, 4); err == nil {
		c2.close()
		t.Fatal("without Dial, discovery succeeded: it did not go to the public address")
	}
	if pubGot, _ := counts(); len(pubGot) != 2 || !strings.HasSuffix(pubGot[1], "/.well-known/openid-configuration") {
		t.Errorf("without Dial the public address got %v, want the discovery request", pubGot)
	}
}

// TestLoadThroughAnEdgeAddress runs the load against the all role whose public URL is
// an address that refuses everything, dialling the all role (through a counting proxy)
// instead, as the lab's load of a secondary region dials its edge: every flow succeeds
// under the public issuer, and the public address sees no request.
func TestLoadThroughAnEdgeAddress(t *testing.T) {
	var publicHits, edgeHits atomic.Int64
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		publicHits.Add(1)
		http.Error(w, "the public address was dialled", http.StatusTeapot)
	}))
	t.Cleanup(public.Close)
	base := startAll(t, public.URL)
	u, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the request's (public) Host header
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	rp.Transport = tr
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		edgeHits.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(edge.Close)
	tg := provisionAll(t, base) // admin direct; the issuer is the public one
	if tg.Issuer != public.URL+"/t/load" {
		t.Fatalf("issuer %q, want the public URL's", tg.Issuer)
	}
	tg.Dial = strings.TrimPrefix(edge.URL, "http://")
	res, err := RunLoad(t.Context(), tg, LoadConfig{Rate: 8, Duration: 2 * time.Second, AdminRate: 1, Warmup: 2, Mix: lightMix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Outcomes {
		if !o.OK {
			t.Errorf("failed: %+v", o)
		}
	}
	if len(res.Outcomes) == 0 || publicHits.Load() != 0 || edgeHits.Load() < int64(len(res.Outcomes)) {
		t.Errorf("%d outcomes; the public address got %d requests, the edge %d; want none and at least one a flow",
			len(res.Outcomes), publicHits.Load(), edgeHits.Load())
	}
}
