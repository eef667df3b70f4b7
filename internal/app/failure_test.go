package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/worker"
)

// The failure tests of ARCHITECTURE.md §6 at the process level (issue 4 item 9): a real
// PostgreSQL primary with two streaming replicas, a real NATS server on loopback, and the
// roles in-process with Run — admin on the primary, worker, login on the replicas only
// — under a steady sign-in load through the hosted login form. Each test injects one
// fault and checks what end users saw (every sign-in succeeded) and what must hold
// (every user.signed_in command applied exactly once: the events table holds exactly as
// many sign-in events as there were successful sign-ins).
//
// The broker faults of a three-node NATS cluster (a member killed, every member
// killed) and a worker killed with SIGKILL are in natsfailure_test.go, with every role a
// process of its own; they share this file's load and checks (signInRig).

// primaryOutage is how long the primary stays stopped. Issue 4 asks for 30 s; the load
// is small, so the whole file stays well under three minutes with it.
const primaryOutage = 30 * time.Second

// Load shape: failureClients browsers, each signing in again and again with
// prompt=login (every sign-in verifies the password with the production argon2id
// parameters and issues one user.signed_in command), pausing failurePause between two.
// The pause keeps two slow shared cores from saturating; nothing measures time.
const (
	failureClients = 2
	failurePause   = 100 * time.Millisecond
	// failureMaxSignIns bounds each client's loop, whatever happens to the stop signal.
	failureMaxSignIns = 2000
	// failurePolls × failurePollEvery bounds every wait for a state to be reached.
	failurePolls     = 600
	failurePollEvery = 100 * time.Millisecond
)

// failureEnv is one deployment under test: the cluster, the broker, the three roles,
// and a relying party registered in tenant acme.
type failureEnv struct {
	signInRig
	cluster *pgtest.Cluster
	db      pgtest.Database
	broker  *externalNATS

	admin, worker, login *running
	workerCfg, loginCfg  config.Config
	workers, logins      int // how many of each were started, to name their logs
}

// signInRig is what the sign-in load and the exactly-once checks need of a deployment,
// whether its roles run in this process (failureEnv) or as processes (natsFailureEnv).
type signInRig struct {
	t         *testing.T
	adminBase string // the admin API, for the events
	natsURL   string // the broker (comma-separated URLs), for the dead letters

	flow     *signinFlow
	signedIn atomic.Int64 // successful sign-ins: user.signed_in commands issued
}

// newFailureEnv starts everything and waits until the login process is ready.
func newFailureEnv(t *testing.T) *failureEnv {
	t.Helper()
	e := &failureEnv{cluster: pgtest.Start(t, pgtest.Options{Replicas: 2})}
	e.t = t
	e.db = e.cluster.NewDatabase(t)
	e.broker = startExternalNATS(t)
	e.natsURL = e.broker.url
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres logs:\n%s", e.cluster.Logs())
		}
	})

	adminCfg := testConfig(t, filepath.Join(t.TempDir(), "admin"))
	// As in the README's production topology: admin reads (tokens included) go to a
	// replica in read-only mode, so a write with the primary down gets its 503 read-only.
	adminCfg.DatabaseURL, adminCfg.ReplicaURLs = e.db.PrimaryURL, e.db.ReplicaURLs
	adminCfg.KEK = testKEK
	adminCfg.BootstrapAdminToken = signinAdminToken
	adminCfg.LogLevel = "info"
	if err := adminCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var migrateLog bytes.Buffer
	if err := Migrate(t.Context(), adminCfg, &migrateLog); err != nil {
		t.Fatalf("migrate: %v\n%s", err, migrateLog.String())
	}
	e.admin = startRole(t, "admin", Options{Config: adminCfg, Role: RoleAdmin})
	e.adminBase = e.admin.base
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := applyTenant(t, e.admin.base, rp.URL)

	e.workerCfg = testConfig(t, filepath.Join(t.TempDir(), "worker"))
	e.workerCfg.DatabaseURL, e.workerCfg.NATSURL, e.workerCfg.KEK = e.db.PrimaryURL, e.broker.url, testKEK
	e.workerCfg.LogLevel = "info"
	if err := e.workerCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.startWorker()

	if err := e.cluster.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.loginCfg = loginConfig(t, e.db.ReplicaURLs, e.broker.url)
	e.startLogin()

	issuer := e.login.base + "/t/acme"
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	e.flow = &signinFlow{ctx: ctx, issuer: issuer, rp: rp.URL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rp.URL + "/callback", Scopes: []string{gooidc.ScopeOpenID}}}
	return e
}

func (e *failureEnv) startWorker() {
	e.t.Helper()
	e.workers++
	e.worker = startRole(e.t, fmt.Sprintf("worker #%d", e.workers), Options{Config: e.workerCfg, Role: RoleWorker})
}

// startLogin starts a login process on e.loginCfg and waits until it is ready. A
// restarted one has the same data directory (so the same spool) and the same address
// (so the same issuer), as behind a load balancer.
func (e *failureEnv) startLogin() {
	e.t.Helper()
	e.logins++
	e.login = startRole(e.t, fmt.Sprintf("login #%d", e.logins), Options{Config: e.loginCfg, Role: RoleLogin})
	e.loginCfg.HTTPAddr = e.login.addr
	pollLoginReadyz(e.t, e.login.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })
}

// signInOnce is one full sign-in through the hosted form with hc (a browser with its
// own cookie jar): authorize with prompt=login → the form → POST the password → the
// callback's code → the token endpoint → a verified ID token. It returns an error
// rather than failing the test, since it runs on the load's goroutines.
func (e *signInRig) signInOnce(hc *http.Client) error {
	f := e.flow
	req := f.newRequest()
	opts := append(req.opts(), oauth2.SetAuthURLParam("prompt", "login"))
	pg, err := browse(hc, http.MethodGet, f.conf.AuthCodeURL(req.state, opts...), nil)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if !pg.isLoginForm() {
		return fmt.Errorf("authorize: want the login form, got %d: %.300s", pg.status, pg.body)
	}
	m := formAction.FindStringSubmatch(pg.body)
	if m == nil {
		return fmt.Errorf("no form on the login page: %.300s", pg.body)
	}
	action, err := pg.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	form := url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}}
	for _, h := range hiddenInput.FindAllStringSubmatch(pg.body, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	pg, err = browse(hc, http.MethodPost, action.String(), form)
	if err != nil {
		return fmt.Errorf("login POST: %w", err)
	}
	loc, err := url.Parse(pg.header.Get("Location"))
	if (pg.status != http.StatusSeeOther && pg.status != http.StatusFound) || err != nil ||
		!strings.HasPrefix(loc.String(), f.rp+"/callback?") {
		return fmt.Errorf("login POST: %d Location %q, want the callback: %.300s", pg.status, pg.header.Get("Location"), pg.body)
	}
	q := loc.Query()
	if q.Get("state") != req.state || q.Get("code") == "" {
		return fmt.Errorf("callback %v: want a code and state %q", q, req.state)
	}
	tok, err := f.conf.Exchange(f.ctx, q.Get("code"), oauth2.VerifierOption(req.verifier))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := f.verifier.Verify(f.ctx, raw)
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != req.nonce {
		return fmt.Errorf("ID token nonce %q, want %q", idt.Nonce, req.nonce)
	}
	return nil
}

// browse makes one request with hc and reads the response (at most 1 MiB).
func browse(hc *http.Client, method, u string, form url.Values) (signinPage, error) {
	var (
		resp *http.Response
		err  error
	)
	if method == http.MethodPost {
		resp, err = hc.PostForm(u, form)
	} else {
		resp, err = hc.Get(u)
	}
	if err != nil {
		return signinPage{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return signinPage{}, err
	}
	return signinPage{status: resp.StatusCode, body: string(body), header: resp.Header, url: resp.Request.URL}, nil
}

// signInLoad is a running load: its outcomes are recorded, never asserted on the
// load's goroutines.
type signInLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string // the first few errors
	stop       chan struct{}
	wg         sync.WaitGroup
}

// startLoad starts failureClients browsers signing in until the load is finished.
func (e *signInRig) startLoad() *signInLoad {
	e.t.Helper()
	l := &signInLoad{stop: make(chan struct{})}
	for i := range failureClients {
		jar, err := cookiejar.New(nil)
		if err != nil {
			e.t.Fatal(err)
		}
		rp := e.flow.rp
		hc := &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if strings.HasPrefix(req.URL.String(), rp+"/") || len(via) >= 10 {
					return http.ErrUseLastResponse
				}
				return nil
			}}
		l.wg.Go(func() {
			for range failureMaxSignIns {
				if err := e.signInOnce(hc); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.failures) < 10 {
						l.failures = append(l.failures, fmt.Sprintf("client %d at %s: %v", i,
							time.Now().UTC().Format(time.StampMilli), err))
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
					e.signedIn.Add(1)
				}
				select {
				case <-l.stop:
					return
				case <-time.After(failurePause):
				}
			}
		})
	}
	e.t.Cleanup(l.finish) // a test that fails early still stops its load
	return l
}

// finish stops the load and waits for the sign-ins in flight.
func (l *signInLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitSignIns waits (bounded) until the load has completed at least n more sign-ins
// than it had when called, so that a fault lands in the middle of real traffic.
func (e *signInRig) waitSignIns(l *signInLoad, n int64) {
	e.t.Helper()
	from := l.ok.Load() + l.failed.Load()
	for range failurePolls {
		if l.ok.Load()+l.failed.Load() >= from+n {
			return
		}
		time.Sleep(failurePollEvery)
	}
	e.t.Fatalf("the load made no progress: %d ok, %d failed", l.ok.Load(), l.failed.Load())
}

// checkNoFailures finishes the load and fails the test for any failed sign-in.
func (e *signInRig) checkNoFailures(what string, l *signInLoad) {
	e.t.Helper()
	l.finish()
	ok, failed := l.ok.Load(), l.failed.Load()
	e.t.Logf("%s: %d sign-ins, %d failed", what, ok, failed)
	if failed != 0 {
		e.t.Errorf("%s: %d of %d sign-ins failed; first errors:\n%s", what, failed, ok+failed,
			strings.Join(l.failures, "\n"))
	}
	if ok == 0 {
		e.t.Errorf("%s: no sign-in completed", what)
	}
}

// signedInEvents counts the tenant's user.signed_in events through the admin API,
// every page, and fails the test when one ID appears twice.
func (e *signInRig) signedInEvents() int {
	e.t.Helper()
	seen := map[string]bool{}
	cursor := ""
	for range 1000 {
		u := e.adminBase + "/admin/v1/tenants/acme/events?type=user.signed_in&limit=500"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body := get(e.t, u, signinAdminToken)
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
			e.t.Fatalf("GET events: %d %.500s", code, body)
		}
		for _, it := range page.Items {
			if seen[it.ID] {
				e.t.Fatalf("event %s listed twice", it.ID)
			}
			seen[it.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			return len(seen)
		}
	}
	e.t.Fatal("more than 1000 pages of events")
	return 0
}

// checkAppliedOnce waits (bounded) until the events table holds as many sign-in events
// as there were successful sign-ins, then checks that it holds exactly that many — none
// lost, none doubled — and that nothing was dead-lettered.
func (e *signInRig) checkAppliedOnce(extra int) {
	e.t.Helper()
	want := int(e.signedIn.Load()) + extra
	got := 0
	for range failurePolls {
		if got = e.signedInEvents(); got >= want {
			break
		}
		time.Sleep(failurePollEvery)
	}
	if got != want {
		e.t.Errorf("%d user.signed_in events, want exactly %d (one per command issued)", got, want)
	}
	if dl := e.deadLetters(); len(dl) != 0 {
		e.t.Errorf("%d commands dead-lettered: %+v", len(dl), dl)
	}
}

// deadLetters lists the dead-letter stream straight from the broker.
func (e *signInRig) deadLetters() []worker.DeadLetter {
	e.t.Helper()
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	dl, _, err := worker.NewDLQ(js, bus.DefaultPrefix).List(e.t.Context(), 0, 100)
	if err != nil {
		e.t.Fatalf("dead letters: %v", err)
	}
	return dl
}

// createGroup posts a group to the admin API and returns the status and the response.
func (e *failureEnv) createGroup(name string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.admin.base+"/admin/v1/tenants/acme/groups",
		strings.NewReader(`{"name":"`+name+`"}`))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+signinAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// TestFailurePrimaryStopped: with the primary stopped for primaryOutage under load,
// no sign-in fails; an admin write gets 503 problem+json; after the primary is back
// the admin write succeeds and every sign-in of the outage is applied exactly once —
// the commands waited in the stream and the worker held them through the outage
// instead of dead-lettering them.
func TestFailurePrimaryStopped(t *testing.T) {
	e := newFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 4)

	if err := e.cluster.StopPrimary(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() { // the database is dropped in cleanup: the primary must be back
		if !restarted {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := e.cluster.StartPrimary(ctx); err != nil {
				t.Errorf("restart the primary: %v", err)
			}
		}
	})
	stoppedAt := time.Now()
	code, hdr, body := e.createGroup("during-the-outage")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
		t.Errorf("admin write with the primary down: %d %s %.300s; want 503 problem+json", code, hdr.Get("Content-Type"), body)
	}
	// Within seconds the admin tier enters read-only mode by itself: writes answer 503
	// with the read-only problem type and Retry-After (ARCHITECTURE.md §6).
	for i := 0; !strings.Contains(string(body), "urn:nines:problem:read-only"); i++ {
		if i == failurePolls {
			t.Fatalf("admin writes never answered read-only with the primary down; last: %d %.300s", code, body)
		}
		time.Sleep(failurePollEvery)
		code, hdr, body = e.createGroup("during-the-outage")
	}
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("read-only admin write: %d Retry-After %q; want 503 with Retry-After", code, hdr.Get("Retry-After"))
	}
	t.Logf("read-only %v after the primary stopped", time.Since(stoppedAt).Round(100*time.Millisecond))
	e.waitSignIns(l, 4)
	time.Sleep(max(0, primaryOutage-time.Since(stoppedAt))) // the outage's length; nothing measures it
	duringOK := l.ok.Load()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := e.cluster.StartPrimary(ctx); err != nil {
		t.Fatalf("restart the primary: %v", err)
	}
	restarted = true
	e.waitSignIns(l, 4)
	e.checkNoFailures("primary stopped", l)
	t.Logf("sign-ins before the primary came back: %d", duringOK)

	// The admin tier writes again once its pool reconnects: poll, bounded.
	for i := 0; ; i++ {
		code, _, body = e.createGroup("after-the-outage")
		if code == http.StatusCreated {
			break
		}
		if i == failurePolls {
			t.Fatalf("admin write after the primary came back: %d %.300s", code, body)
		}
		time.Sleep(failurePollEvery)
	}
	e.checkAppliedOnce(0)
	// The commands of the outage were held by the worker, not bounced off the broker.
	if log := e.worker.log.String(); !strings.Contains(log, "circuit open") || !strings.Contains(log, "circuit closed") {
		t.Error("the worker's log does not show it holding commands through the outage")
	}
}

// TestFailureReplicaKilled: a replica killed (SIGKILL) under load costs no sign-in;
// every sign-in is applied once.
func TestFailureReplicaKilled(t *testing.T) {
	e := newFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 4)
	if err := e.cluster.KillReplica(0); err != nil {
		t.Fatal(err)
	}
	e.waitSignIns(l, 20)
	e.checkNoFailures("replica killed", l)
	e.checkAppliedOnce(0)
}

// TestFailureWorkerRestarted: the worker role is stopped under load (its Run
// cancelled, whatever it held handed back to the broker) and a new one started; the
// sign-ins never notice, and every command is applied once. (A worker dying between
// its commit and its acknowledgement is worker.TestCrashAfterCommit.)
func TestFailureWorkerRestarted(t *testing.T) {
	e := newFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 6)
	if err := e.worker.stop(t); err != nil {
		t.Errorf("worker Run = %v", err)
	}
	e.waitSignIns(l, 6) // commands queue in the stream meanwhile
	e.startWorker()
	e.waitSignIns(l, 6)
	e.checkNoFailures("worker restarted", l)
	e.checkAppliedOnce(0)
}

// TestFailureLoginRestartedWithSpool: a login process stopped while its spool holds
// commands — real sign-ins made while the broker was down — and started again on the
// same data directory publishes them once the broker is back, and each is applied
// exactly once.
func TestFailureLoginRestartedWithSpool(t *testing.T) {
	e := newFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 6)
	e.checkNoFailures("before the broker stops", l)
	e.checkAppliedOnce(0) // the stream is drained: what follows comes from the spool only

	e.broker.stop()
	l = e.startLoad()
	e.waitSignIns(l, 6)
	e.checkNoFailures("with the broker down", l)
	_, rd := readyzBody(t, e.login.base)
	if rd.Commands == nil || rd.Commands.Depth == 0 {
		t.Fatalf("the spool is empty after sign-ins with the broker down: %+v", rd.Commands)
	}
	spooled := rd.Commands.Depth
	if err := e.login.stop(t); err != nil {
		t.Errorf("login Run with the broker down = %v", err)
	}

	e.broker.restart()
	e.startLogin()
	l = e.startLoad()
	e.waitSignIns(l, 6)
	e.checkNoFailures("after the restart", l)
	e.checkAppliedOnce(0)
	t.Logf("%d commands crossed the restart in the spool", spooled)
	if !strings.Contains(e.login.log.String(), "spool holds commands from an earlier run") {
		t.Error("the restarted login process did not find the spool")
	}
}

// brokerOutage is how long the broker stays stopped: issue 4 asks for 20 s.
const brokerOutage = 20 * time.Second

// TestFailureBrokerStopped: with the broker (the NATS server, so the KV and the command
// stream with it) stopped for brokerOutage under load, no sign-in fails — the login
// process keeps its short-lived state in memory (the KV fallback) and spools its
// commands — and after the broker is back the spool is flushed, the state handed back
// to the KV, and every sign-in applied exactly once.
func TestFailureBrokerStopped(t *testing.T) {
	e := newFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 4)

	e.broker.stop()
	stoppedAt := time.Now()
	beforeOK := l.ok.Load()
	maxDepth := 0
	for time.Since(stoppedAt) < brokerOutage { // the outage's length; nothing measures it
		_, rd := readyzBody(t, e.login.base)
		if rd.Commands != nil {
			maxDepth = max(maxDepth, rd.Commands.Depth)
		}
		time.Sleep(500 * time.Millisecond)
	}
	duringOK := l.ok.Load() - beforeOK
	_, rd := readyzBody(t, e.login.base)
	e.broker.restart()

	if rd.KVFallback == nil || !rd.KVFallback.Active || rd.KVFallback.LocalWrites == 0 {
		t.Errorf("readyz during the outage: kv_fallback %+v; want it active with local writes", rd.KVFallback)
	}
	if maxDepth == 0 {
		t.Error("the spool never held a command during the outage")
	}
	// The spool drains and the fallback hands its state back: poll, bounded.
	for i := 0; ; i++ {
		_, rd = readyzBody(t, e.login.base)
		if rd.Commands != nil && rd.Commands.Depth == 0 && rd.KVFallback != nil && !rd.KVFallback.Active &&
			rd.KVFallback.LocalEntries == 0 {
			break
		}
		if i == failurePolls {
			t.Fatalf("after the broker came back: commands %+v kv_fallback %+v; want both empty", rd.Commands, rd.KVFallback)
		}
		time.Sleep(failurePollEvery)
	}
	e.waitSignIns(l, 4)
	e.checkNoFailures("broker stopped", l)
	t.Logf("sign-ins during the %v outage: %d; spool depth seen: %d", brokerOutage, duringOK, maxDepth)
	if duringOK == 0 {
		t.Error("no sign-in completed during the outage")
	}
	e.checkAppliedOnce(0)
}
