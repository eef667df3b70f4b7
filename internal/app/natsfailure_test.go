package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/proc"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/testenv"
	"github.com/ninesid/nines/internal/worker"
)

// The broker faults of ARCHITECTURE.md §6 with every role a process of its own (issue
// 4 item 9): a PostgreSQL primary with two streaming replicas (pgtest), three
// `nines serve --role=nats` processes forming a JetStream cluster, `nines migrate`, then
// admin, worker and login as `nines serve` processes of the built binary, configured by
// NINES_* environment variables exactly as README "Production topology" does, and the
// relying party registered with `nines apply`. Faults are real: SIGKILL of a process,
// restarted on the same data directory and ports. The load and the checks are
// failure_test.go's (signInRig): zero failed sign-ins, as many user.signed_in events as
// successful sign-ins, no dead letter; and one more (checkCommandsIssued): as many
// events as commands the login process issued, by its own counters, so that a sign-in
// failing after its command was issued is not mistaken for a doubled command.

// ninesBinary is the nines binary of this test binary's run, built once.
var ninesBinary = &proc.Builder{Package: "github.com/ninesid/nines/cmd/nines"}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := ninesBinary.Remove(); err != nil {
		fmt.Fprintf(os.Stderr, "remove the nines binary: %v\n", err)
	}
	os.Exit(code)
}

// ninesBin builds the nines binary (once per test binary) or fails with go build's
// output.
func ninesBin(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := ninesBinary.Build(ctx)
	if err != nil {
		t.Fatalf("build the nines binary: %v", err)
	}
	return bin
}

// The streams of a sign-in: the command stream and the login tier's KV buckets.
var (
	commandStream = bus.StreamName(bus.DefaultPrefix)
	authReqStream = kvStream(kv.AuthRequestsSuffix)
	signInStreams = []string{commandStream, authReqStream, kvStream(kv.CodesSuffix), kvStream(kv.SessionsSuffix),
		kvStream(kv.ThrottleSuffix), kvStream(kv.DeviceCodesSuffix), kvStream(kv.RefreshSuffix)}
)

func kvStream(suffix string) string { return "KV_" + kv.DefaultPrefix + "_" + suffix }

// at is the wall clock for the log, to match the processes' JSON logs (UTC).
func at() string { return time.Now().UTC().Format("15:04:05.000") }

// allNATSOutage is how long every NATS member stays down (issue 4: 20 s).
const allNATSOutage = 20 * time.Second

// natsFailureEnv is a deployment of processes: see the top of this file.
type natsFailureEnv struct {
	signInRig
	cluster *pgtest.Cluster
	db      pgtest.Database
	bin     string
	members []*natsMember

	admin, worker, login    *proc.Process
	workerBase, loginBase   string
	nc                      *nats.Conn // the test's own client of the cluster, for stream and consumer info
	js                      jetstream.JetStream
	natsPorts, clusterPorts []int
}

// natsMember is one `nines serve --role=nats` process.
type natsMember struct {
	name string
	base string // its /readyz and /metrics
	p    *proc.Process
}

// newNATSFailureEnv starts everything and waits until the login process is ready and
// every stream of the sign-in path has settled. The order is the README's but for
// three things: the worker starts (creating the buckets and the command stream) before
// the login process, because two processes creating the same R3 bucket at once on a
// fresh cluster each wait out an unanswered request per bucket (retryNATS: ~20 s
// here); the login process starts before the admin process, whose NINES_PUBLIC_URL
// names it; and each serving process picks its port just before it starts, again if
// it lost the port meanwhile (startServing).
func newNATSFailureEnv(t *testing.T) *natsFailureEnv {
	t.Helper()
	began := time.Now()
	var stages []string // how long each step took, for the log
	stage := func(what string) {
		stages = append(stages, fmt.Sprintf("%s %v", what, time.Since(began).Round(time.Millisecond)))
	}
	e := &natsFailureEnv{bin: ninesBin(t), cluster: pgtest.Start(t, pgtest.Options{Replicas: 2})}
	e.t = t
	e.db = e.cluster.NewDatabase(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres logs:\n%s", e.cluster.Logs())
		}
	})
	dir := t.TempDir()

	// 1. Three NATS members: each needs every member's route address up front.
	ports := testenv.FreePorts(t, 9)
	e.natsPorts, e.clusterPorts = ports[0:3], ports[3:6]
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, addr(e.clusterPorts[i]))
		urls = append(urls, "nats://"+addr(e.natsPorts[i]))
	}
	e.natsURL = strings.Join(urls, ",")
	for i := range 3 {
		name := fmt.Sprintf("nats-%d", i+1)
		m := &natsMember{name: name, base: "http://" + addr(ports[6+i])}
		m.p = e.startProc(name, m.base, 128<<10, []string{
			"NINES_NATS_NAME=" + name,
			"NINES_DATA_DIR=" + filepath.Join(dir, name),
			"NINES_HTTP_ADDR=" + addr(ports[6+i]),
			"NINES_NATS_LISTEN=" + addr(e.natsPorts[i]),
			"NINES_NATS_CLUSTER_LISTEN=" + addr(e.clusterPorts[i]),
			"NINES_NATS_ROUTES=" + strings.Join(routes, ","),
		}, "serve", "--role=nats")
		e.members = append(e.members, m)
	}
	for _, m := range e.members { // a member is ready once the cluster has a meta leader
		e.waitReady(m.p)
	}
	stage("nats cluster")

	// 2. The schema, once, on the primary.
	kek := filepath.Join(dir, "kek")
	if err := os.WriteFile(kek, []byte(testKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := proc.Run(mctx, proc.Config{Name: "nines migrate", Path: e.bin, Args: []string{"migrate"}, Dir: dir,
		Env: []string{"NINES_DATABASE_URL=" + e.db.PrimaryURL, "NINES_DATA_DIR=" + filepath.Join(dir, "migrate")}})
	if err != nil {
		t.Fatalf("nines migrate: %v\n%s", err, out)
	}
	stage("migrated")

	// 3. Worker (primary + NATS), login (replicas + NATS only), admin (primary +
	// replicas), and a relying party registered with nines apply.
	replicas := strings.Join(e.db.ReplicaURLs, ",")
	e.worker, e.workerBase = e.startServing("worker", func(a string) []string {
		return []string{
			"NINES_HTTP_ADDR=" + a,
			"NINES_DATA_DIR=" + filepath.Join(dir, "worker"),
			"NINES_DATABASE_URL=" + e.db.PrimaryURL,
			"NINES_NATS_URL=" + e.natsURL,
			"NINES_KEK_FILE=" + kek,
		}
	}, "serve", "--role=worker")
	stage("worker")
	e.login, e.loginBase = e.startServing("login", func(a string) []string {
		return []string{
			"NINES_HTTP_ADDR=" + a,
			"NINES_DATA_DIR=" + filepath.Join(dir, "login"),
			"NINES_REPLICA_URLS=" + replicas,
			"NINES_NATS_URL=" + e.natsURL,
			"NINES_KEK_FILE=" + kek,
		}
	}, "serve", "--role=login")
	e.waitLogin("ready", func(rd loginReadiness) bool { return rd.Status == "ready" })
	stage("login")
	e.admin, e.adminBase = e.startServing("admin", func(a string) []string {
		return []string{
			"NINES_HTTP_ADDR=" + a,
			"NINES_DATA_DIR=" + filepath.Join(dir, "admin"),
			"NINES_PUBLIC_URL=" + e.loginBase,
			"NINES_DATABASE_URL=" + e.db.PrimaryURL,
			"NINES_REPLICA_URLS=" + replicas,
			"NINES_KEK_FILE=" + kek,
			"NINES_BOOTSTRAP_ADMIN_TOKEN=" + signinAdminToken,
		}
	}, "serve", "--role=admin")
	stage("admin")
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the test's browser should have stopped at this redirect", http.StatusTeapot)
	}))
	t.Cleanup(rp.Close)
	secret := e.apply(dir, rp.URL)
	if err := e.cluster.WaitReplicated(t.Context()); err != nil { // the tenant reaches the replicas
		t.Fatal(err)
	}
	stage("applied")

	e.nc, err = nats.Connect(e.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}

	issuer := e.loginBase + "/t/acme"
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	e.flow = &signinFlow{ctx: ctx, issuer: issuer, rp: rp.URL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rp.URL + "/callback", Scopes: []string{gooidc.ScopeOpenID}}}
	stage("discovery")
	// Every stream of the sign-in path has a leader and two current followers before
	// the load starts, so that the fault under test is the only one.
	for _, name := range signInStreams {
		e.waitStream(name, "settled", allCurrent)
	}
	stage("streams settled")
	t.Logf("deployment of %d processes ready: %s", len(e.members)+3, strings.Join(stages, ", "))
	return e
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// tally is a load's outcomes at one moment, to log them phase by phase.
type tally struct{ ok, failed int64 }

func (l *signInLoad) tally() tally { return tally{ok: l.ok.Load(), failed: l.failed.Load()} }

// since is what happened between from and t: "N ok, M failed".
func (t tally) since(from tally) string {
	return fmt.Sprintf("%d ok, %d failed", t.ok-from.ok, t.failed-from.failed)
}

// startProc starts the nines binary with args and exactly env, killed in cleanup, its
// output logged when the test fails.
func (e *natsFailureEnv) startProc(name, base string, outputLimit int, env []string, args ...string) *proc.Process {
	e.t.Helper()
	p, err := proc.Start(proc.Config{Name: name, Path: e.bin, Args: args, Env: env, ReadyURL: base + "/readyz",
		OutputLimit: outputLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := p.Close(); err != nil {
			e.t.Errorf("%s: %v", name, err)
		}
		if e.t.Failed() {
			e.t.Logf("%s output (%d starts):\n%s", name, p.Runs(), p.Output())
		}
	})
	return p
}

// startServing starts a serving process on a free loopback port and waits until it
// is ready; if another process took the port between the pick and the bind, it starts
// again on another (bounded). It returns the process and its base URL; a restart
// keeps the port.
func (e *natsFailureEnv) startServing(name string, env func(addr string) []string, args ...string) (*proc.Process, string) {
	e.t.Helper()
	for attempt := 1; ; attempt++ {
		a := testenv.FreeAddr(e.t)
		p := e.startProc(name, "http://"+a, 256<<10, env(a), args...)
		err := p.WaitReady(e.t.Context())
		if err == nil {
			return p, "http://" + a
		}
		if attempt == 3 || !strings.Contains(p.Output(), "address already in use") {
			e.t.Fatal(err)
		}
		e.t.Logf("%s lost port %s before it bound it; trying another", name, a)
		if err := p.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *natsFailureEnv) waitReady(p *proc.Process) {
	e.t.Helper()
	if err := p.WaitReady(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

// apply registers signinYAML's tenant with `nines apply` and returns the client secret
// of acme/web from its secrets file.
func (e *natsFailureEnv) apply(dir, rpURL string) string {
	e.t.Helper()
	file, secrets := filepath.Join(dir, "nines.yaml"), filepath.Join(dir, "secrets.jsonl")
	if err := os.WriteFile(file, fmt.Appendf(nil, signinYAML, rpURL), 0o600); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	out, err := proc.Run(ctx, proc.Config{Name: "nines apply", Path: e.bin, Dir: dir,
		Args: []string{"apply", "-f", file, "--secrets-file", secrets},
		Env:  []string{"NINES_SERVER=" + e.adminBase, "NINES_ADMIN_TOKEN=" + signinAdminToken}})
	if err != nil {
		e.t.Fatalf("nines apply: %v\n%s", err, out)
	}
	fh, err := os.Open(secrets)
	if err != nil {
		e.t.Fatal(err)
	}
	defer fh.Close()
	for sc := bufio.NewScanner(fh); sc.Scan(); {
		var line struct {
			Tenant       string `json:"tenant"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			e.t.Fatalf("secrets file: %v", err)
		}
		if line.Tenant == "acme" && line.ClientID == "web" && line.ClientSecret != "" {
			return line.ClientSecret
		}
	}
	e.t.Fatalf("no secret for acme/web in the secrets file; nines apply printed:\n%s", out)
	return ""
}

// loginReadiness is the part of the login process's /readyz these tests read.
type loginReadiness struct {
	Status string `json:"status"`
	NATS   *struct {
		Server    string `json:"server"`
		Connected bool   `json:"connected"`
	} `json:"nats"`
	Commands   *bus.Stats `json:"commands"`
	KVFallback *struct {
		Active       bool  `json:"active"`
		LocalEntries int64 `json:"local_entries"`
		LocalWrites  int64 `json:"local_writes_total"`
		LocalReads   int64 `json:"local_reads_total"`
	} `json:"kv_fallback"`
}

func (e *natsFailureEnv) loginReadyz() (int, loginReadiness) {
	e.t.Helper()
	code, body := get(e.t, e.loginBase+"/readyz", "")
	var rd loginReadiness
	if err := json.Unmarshal(body, &rd); err != nil {
		e.t.Fatalf("login readyz %d %s: %v", code, body, err)
	}
	return code, rd
}

// waitLogin polls the login process's /readyz until done says yes (bounded).
func (e *natsFailureEnv) waitLogin(what string, done func(loginReadiness) bool) loginReadiness {
	e.t.Helper()
	var (
		code int
		rd   loginReadiness
	)
	for range failurePolls {
		if code, rd = e.loginReadyz(); done(rd) {
			return rd
		}
		time.Sleep(failurePollEvery)
	}
	e.t.Fatalf("the login process never reached %q; last readyz %d %+v commands %+v", what, code, rd, rd.Commands)
	return rd
}

// streamInfo asks the cluster for a stream's info; nil while it does not answer (a
// member is down, an election is on).
func (e *natsFailureEnv) streamInfo(name string) *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, name)
	if err != nil {
		return nil
	}
	return s.CachedInfo()
}

// waitStream polls a stream's info until done says yes (bounded) and returns it.
func (e *natsFailureEnv) waitStream(name, what string, done func(*jetstream.StreamInfo) bool) *jetstream.StreamInfo {
	e.t.Helper()
	var si *jetstream.StreamInfo
	for range failurePolls {
		if si = e.streamInfo(name); si != nil && si.Cluster != nil && done(si) {
			return si
		}
		time.Sleep(failurePollEvery)
	}
	e.t.Fatalf("stream %s never reached %q; last info %+v", name, what, si)
	return nil
}

func leaderOf(si *jetstream.StreamInfo) string {
	if si == nil || si.Cluster == nil {
		return ""
	}
	return si.Cluster.Leader
}

// allCurrent: the stream has a leader and two replicas, both current and online.
func allCurrent(si *jetstream.StreamInfo) bool {
	if si.Cluster.Leader == "" || len(si.Cluster.Replicas) != 2 {
		return false
	}
	for _, r := range si.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

func (e *natsFailureEnv) member(name string) *natsMember {
	e.t.Helper()
	for _, m := range e.members {
		if m.name == name {
			return m
		}
	}
	e.t.Fatalf("no NATS member %q", name)
	return nil
}

// metaLeader is the meta leader as the first member that answers sees it.
func (e *natsFailureEnv) metaLeader() string {
	e.t.Helper()
	for _, m := range e.members {
		if m.p.Running() {
			if _, rd := natsReadyz(e.t, m.base); rd.NATS.Leader != "" {
				return rd.NATS.Leader
			}
		}
	}
	return ""
}

// checkCommandsIssued waits (bounded) until the events table holds one user.signed_in
// per command the login process issued — acknowledged at once or spooled, its own
// counters — and checks that it holds exactly that many and that the publisher dropped,
// refused and rejected none: the command path lost and doubled nothing. The login
// process must have run since the deployment started. checkAppliedOnce compares with
// the sign-ins that succeeded instead; a sign-in that failed after the password was
// accepted (at the code exchange) issued its command, and only this check tells such
// a failure from a doubled command.
func (e *natsFailureEnv) checkCommandsIssued() {
	e.t.Helper()
	var (
		st     *bus.Stats
		events int
	)
	for range failurePolls {
		_, rd := e.loginReadyz()
		if st = rd.Commands; st == nil {
			e.t.Fatal("the login process's readyz has no commands entry")
		}
		if events = e.signedInEvents(); uint64(events) >= st.Published+st.Spooled && st.Depth == 0 {
			break
		}
		time.Sleep(failurePollEvery)
	}
	issued := st.Published + st.Spooled
	e.t.Logf("the login process issued %d commands (%d acknowledged at once, %d spooled, %d flushed); %d user.signed_in events",
		issued, st.Published, st.Spooled, st.Flushed, events)
	if uint64(events) != issued || st.Depth != 0 || st.Flushed != st.Spooled || st.Dropped+st.Refused+st.Rejected != 0 {
		e.t.Errorf("%d user.signed_in events for the login process's commands %+v; want one per command issued, "+
			"every spooled one flushed, none dropped, refused or rejected", events, *st)
	}
}

// waitSpoolEmpty waits (bounded) until the login process is connected to NATS and its
// spool is empty, and returns its /readyz.
func (e *natsFailureEnv) waitSpoolEmpty() loginReadiness {
	e.t.Helper()
	return e.waitLogin("spool empty, NATS connected", func(rd loginReadiness) bool {
		return rd.Commands != nil && rd.Commands.Depth == 0 && rd.NATS != nil && rd.NATS.Connected
	})
}

// leaders lists the leader of each stream of the sign-in path ("?" while unknown).
func (e *natsFailureEnv) leaders() string {
	var out []string
	for _, name := range signInStreams {
		l := leaderOf(e.streamInfo(name))
		if l == "" {
			l = "?"
		}
		out = append(out, name+"="+l)
	}
	return strings.Join(out, " ")
}

// leadEverything moves the leadership of every stream of the sign-in path to member
// name (a leader step-down with name as the preferred successor), so that losing that
// member costs the sign-in path every leader at once: the worst case of one member
// lost, whatever the placement the cluster chose. (The meta group's leadership cannot
// be moved from a client's account: its step-down is a system-account request.)
func (e *natsFailureEnv) leadEverything(name string) {
	e.t.Helper()
	req, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": name}})
	if err != nil {
		e.t.Fatal(err)
	}
	stepDown := func(subject string) {
		msg, err := e.nc.Request(subject, req, 2*time.Second)
		if err != nil {
			e.t.Logf("%s: %v (retrying)", subject, err)
			return
		}
		var resp struct {
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if json.Unmarshal(msg.Data, &resp) == nil && resp.Error != nil {
			e.t.Logf("%s: %s (retrying)", subject, resp.Error.Description)
		}
	}
	for _, stream := range signInStreams {
		for i := 0; ; i++ {
			si := e.streamInfo(stream)
			if leaderOf(si) == name && allCurrent(si) {
				break
			}
			if i == 40 {
				e.t.Fatalf("the leadership of %s never moved to %s: %+v", stream, name, si)
			}
			if leaderOf(si) != "" && leaderOf(si) != name && i%5 == 0 {
				stepDown(jetstream.DefaultAPIPrefix + "STREAM.LEADER.STEPDOWN." + stream)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// TestFailureNATSNodeKilled: under load, one NATS member is SIGKILLed — the one that
// leads the command stream, made to lead every KV stream of the sign-in path too
// (leadEverything) — the load goes on across the elections; the
// member is restarted on its store and ports and catches up. No sign-in fails, every
// command is applied once, nothing is dead-lettered.
func TestFailureNATSNodeKilled(t *testing.T) {
	e := newNATSFailureEnv(t)
	cmds := e.waitStream(commandStream, "a leader", func(si *jetstream.StreamInfo) bool { return si.Cluster.Leader != "" })
	victim := leaderOf(cmds)
	t.Logf("leaders as placed: meta=%s %s", e.metaLeader(), e.leaders())
	e.leadEverything(victim)
	_, lr := e.loginReadyz()
	t.Logf("leaders moved: meta=%s %s; the login process is connected to %s; the victim %s serves clients on port %d",
		e.metaLeader(), e.leaders(), lr.NATS.Server, victim, e.natsPorts[e.indexOf(victim)])

	l := e.startLoad()
	e.waitSignIns(l, 4)
	before := l.tally()
	m := e.member(victim)
	killedAt := time.Now()
	if err := m.p.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s killed", at(), victim)
	si := e.waitStream(commandStream, "a new leader", func(si *jetstream.StreamInfo) bool {
		return si.Cluster.Leader != "" && si.Cluster.Leader != victim
	})
	t.Logf("%s: %s elected %s %v after the kill", at(), commandStream, si.Cluster.Leader, time.Since(killedAt).Round(time.Millisecond))
	e.waitSignIns(l, 10) // the load goes on with two members
	t.Logf("%s: leaders with %s down: meta=%s %s", at(), victim, e.metaLeader(), e.leaders())
	during := l.tally()

	restartedAt := time.Now()
	if err := m.p.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitReady(m.p)
	for _, name := range signInStreams {
		e.waitStream(name, "three current replicas", allCurrent)
	}
	t.Logf("%s: %s restarted, ready and current on every stream %v after its restart", at(), victim,
		time.Since(restartedAt).Round(time.Millisecond))
	e.waitSignIns(l, 6)
	e.checkNoFailures("one NATS member killed", l)
	rd := e.waitSpoolEmpty()
	t.Logf("sign-ins: before the kill %s; with %s down %s; after its restart %s; login commands %+v",
		before.since(tally{}), victim, during.since(before), l.tally().since(during), *rd.Commands)
	e.checkAppliedOnce(0)
	e.checkCommandsIssued()
}

func (e *natsFailureEnv) indexOf(name string) int {
	for i, m := range e.members {
		if m.name == name {
			return i
		}
	}
	e.t.Fatalf("no NATS member %q", name)
	return 0
}

// TestFailureNATSAllKilled: under load, every NATS member is SIGKILLed, stays down
// allNATSOutage and is restarted on its store and ports. No sign-in fails during the
// outage or after it; the login process's spool holds the commands of the outage and
// is empty at the end; every command is applied once, nothing is dead-lettered.
func TestFailureNATSAllKilled(t *testing.T) {
	e := newNATSFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 4)
	before := l.tally()

	for _, m := range e.members {
		if err := m.p.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	killedAt := time.Now()
	t.Logf("%s: every NATS member killed", at())
	// The outage, watched through the login process's /readyz.
	maxDepth, maxLocal, statuses := 0, int64(0), map[string]int{}
	for time.Since(killedAt) < allNATSOutage {
		code, rd := e.loginReadyz()
		statuses[fmt.Sprintf("%d %s", code, rd.Status)]++
		if rd.Commands != nil {
			maxDepth = max(maxDepth, rd.Commands.Depth)
		}
		if rd.KVFallback != nil {
			maxLocal = max(maxLocal, rd.KVFallback.LocalEntries)
		}
		time.Sleep(250 * time.Millisecond)
	}
	during := l.tally()
	t.Logf("%s: during the %v outage: %s; login spool depth up to %d, KV fallback entries up to %d; login readyz %v",
		at(), allNATSOutage, during.since(before), maxDepth, maxLocal, statuses)

	restartedAt := time.Now()
	for _, m := range e.members {
		if err := m.p.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range e.members {
		e.waitReady(m.p)
	}
	t.Logf("%s: every member ready %v after the restart (meta leader %s)", at(),
		time.Since(restartedAt).Round(time.Millisecond), e.metaLeader())
	rd := e.waitSpoolEmpty()
	t.Logf("%s: login spool empty and NATS connected %v after the restart", at(), time.Since(restartedAt).Round(time.Millisecond))
	fb := e.waitLogin("KV fallback handed back", func(rd loginReadiness) bool {
		return rd.KVFallback != nil && !rd.KVFallback.Active && rd.KVFallback.LocalEntries == 0
	}).KVFallback
	t.Logf("%s: KV fallback handed back to NATS %v after the restart: %+v", at(), time.Since(restartedAt).Round(time.Millisecond), *fb)
	e.waitSignIns(l, 6)
	e.checkNoFailures("every NATS member killed", l)
	t.Logf("sign-ins: before the outage %s; during it %s; after it %s; login commands %+v",
		before.since(tally{}), during.since(before), l.tally().since(during), *rd.Commands)

	if maxDepth == 0 {
		t.Error("the login process's spool never held a command during the outage")
	}
	rd = e.waitSpoolEmpty()
	st := rd.Commands
	if st.Spooled == 0 || st.Flushed != st.Spooled || st.Dropped != 0 || st.Refused != 0 || st.Rejected != 0 {
		t.Errorf("login commands after the outage %+v; want some spooled, every one flushed, none dropped, refused or rejected", *st)
	}
	e.checkAppliedOnce(0)
	e.checkCommandsIssued()
}

// commandConsumer is the worker's durable consumer's info; nil while it does not answer.
func (e *natsFailureEnv) commandConsumer() *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, commandStream, worker.DefaultDurable)
	if err != nil {
		return nil
	}
	return c.CachedInfo()
}

// workerCounter reads nines_worker_commands_total{outcome} from the worker's /metrics;
// -1 when the process does not answer.
func (e *natsFailureEnv) workerCounter(outcome string) int {
	resp, err := client.Get(e.workerBase + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "nines_worker_commands_total{") && strings.Contains(line, `outcome="`+outcome+`"`) {
			f := strings.Fields(line)
			n, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return -1
			}
			return int(n)
		}
	}
	return 0
}

// workerKillAttempts bounds how many backlogs TestFailureWorkerKilled builds to catch
// a worker while it holds deliveries.
const workerKillAttempts = 3

// TestFailureWorkerKilled: the worker process is SIGKILLed under load while it holds
// commands it was delivered and has not acknowledged (the broker's count of
// unacknowledged deliveries says so), a new one is started, and every command is still
// applied exactly once: the dead worker's deliveries come back after their AckWait, and
// one it had committed is recognised by its recorded ID.
func TestFailureWorkerKilled(t *testing.T) {
	e := newNATSFailureEnv(t)
	l := e.startLoad()
	e.waitSignIns(l, 4)

	var caught *jetstream.ConsumerInfo
	for attempt := 1; attempt <= workerKillAttempts && caught == nil; attempt++ {
		// A backlog: the worker is killed (wherever it is) and the load goes on.
		if err := e.worker.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: attempt %d: worker killed", at(), attempt)
		e.waitSignIns(l, 30)
		eventsBefore := e.signedInEvents()
		ci := e.commandConsumer()
		if ci == nil {
			t.Fatal("the worker's consumer does not answer")
		}
		backlog := ci.NumPending + uint64(ci.NumAckPending)
		// A new worker drains it (and the load's new commands); kill it the moment it
		// has applied a command and the broker reports deliveries it has not
		// acknowledged.
		if err := e.worker.Restart(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3000 && e.worker.Running(); i++ { // polls of a few ms plus a 10 ms pause: bounded
			if e.workerCounter("applied") <= 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if ci := e.commandConsumer(); ci != nil && ci.NumAckPending > 0 {
				if err := e.worker.Kill(); err != nil {
					t.Fatal(err)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if e.worker.Running() {
			t.Fatalf("attempt %d: the new worker never applied a command while it held another:\n%s", attempt, e.worker.Output())
		}
		after := e.commandConsumer()
		if after != nil && after.NumAckPending > 0 {
			caught = after
		}
		t.Logf("%s: attempt %d: a backlog of %d commands and %d events; the new worker killed with %d deliveries "+
			"unacknowledged, %d undelivered, %d events", at(), attempt, backlog, eventsBefore, ackPending(after),
			numPending(after), e.signedInEvents())
	}
	if caught == nil {
		t.Fatalf("in %d attempts the worker was never killed while it held deliveries", workerKillAttempts)
	}
	killed := l.tally()
	restartedAt := time.Now()
	if err := e.worker.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitReady(e.worker)
	e.waitSignIns(l, 6)
	e.checkNoFailures("worker killed", l)
	t.Logf("sign-ins: until the last kill %s; after it %s", killed.since(tally{}), l.tally().since(killed))
	e.checkAppliedOnce(0)
	e.checkCommandsIssued()
	t.Logf("every command applied once %v after the last worker started; it applied %d, found %d already applied (duplicates)",
		time.Since(restartedAt).Round(time.Millisecond), e.workerCounter("applied"), e.workerCounter("duplicate"))
	if ci := e.commandConsumer(); ci == nil || ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("the command stream still holds commands: %+v", ci)
	}
}

func ackPending(ci *jetstream.ConsumerInfo) int {
	if ci == nil {
		return -1
	}
	return ci.NumAckPending
}

func numPending(ci *jetstream.ConsumerInfo) int {
	if ci == nil {
		return -1
	}
	return int(ci.NumPending)
}
