package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/retrykey"
)

// Fault modes of a fakeBackend.
const (
	modeOK    = iota
	mode5xx   // every request but the probe answers 503 (no Retry-After)
	modeHang  // every request, the probe included, hangs until the client gives up
	modeFlaky // flakyShare of new connections hang (keep-alive off: one request per connection)
)

// fakeBackend is a login or admin process stand-in that can be told to fail.
type fakeBackend struct {
	name       string
	srv        *httptest.Server
	mode       atomic.Int32
	readyDown  atomic.Bool // /readyz answers 503
	hits       atomic.Int64
	flakyShare float64
	release    chan struct{}
	faultAt    atomic.Int64 // Unix nanos when the current fault started
	first      atomic.Pointer[firstFault]

	keysMu sync.Mutex
	keys   []seenKey // the retry key of every request but the probes, in order
}

// seenKey is the retry key header of a request a fakeBackend got.
type seenKey struct {
	present bool
	value   string // the header's values, joined by ","
}

// firstFault is a fault for the first request (not a probe) that reaches any of the
// fakeBackends sharing it: that request hangs (status 0) or gets status; the others are
// served as the backend's mode says. A test sees in got which backend it was.
type firstFault struct {
	status     int
	retryAfter bool // a 503 with Retry-After (the backend shedding load)
	got        atomic.Pointer[fakeBackend]
}

// shareFirstFault makes f the first-request fault of every backend of bs.
func shareFirstFault(f *firstFault, bs ...*fakeBackend) {
	for _, b := range bs {
		b.first.Store(f)
	}
}

// seenKeys lists the retry keys of the requests the backend got, probes left out.
func (fb *fakeBackend) seenKeys() []seenKey {
	fb.keysMu.Lock()
	defer fb.keysMu.Unlock()
	return append([]seenKey(nil), fb.keys...)
}

type connHangKey struct{}

func newFakeBackend(t testing.TB, name string) *fakeBackend {
	t.Helper()
	fb := &fakeBackend{name: name, flakyShare: 0.15, release: make(chan struct{})}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(fb.serve))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connHangKey{}, rand.Float64() < fb.flakyShare)
	}
	srv.Start()
	fb.srv = srv
	t.Cleanup(func() {
		close(fb.release)
		srv.Close()
	})
	return fb
}

func (fb *fakeBackend) URL() string { return fb.srv.URL }

// setMode switches the fault; keep-alive is off in modeFlaky so that every request
// opens a connection and meets the fault at its rate.
func (fb *fakeBackend) setMode(m int32) {
	fb.srv.Config.SetKeepAlivesEnabled(m != modeFlaky)
	fb.faultAt.Store(time.Now().UnixNano())
	fb.mode.Store(m)
}

// echo is what a fakeBackend answers.
type echo struct {
	Backend   string `json:"backend"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Host      string `json:"host"`
	XFF       string `json:"xff"`
	XFH       string `json:"xfh"`
	XFP       string `json:"xfp"`
	Forwarded string `json:"forwarded"`
	RequestID string `json:"request_id"`
	Other     string `json:"other"`
	BodyLen   int    `json:"body_len"`
	RetryKey  string `json:"retry_key"` // the retrykey.Header values, joined by ","
}

func (fb *fakeBackend) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-fb.release:
	}
}

func (fb *fakeBackend) serve(w http.ResponseWriter, r *http.Request) {
	mode := fb.mode.Load()
	hangs, _ := r.Context().Value(connHangKey{}).(bool)
	if r.URL.Path == "/readyz" {
		switch {
		case mode == modeHang, mode == modeFlaky && hangs:
			fb.hang(r)
			return
		case fb.readyDown.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`)
		return
	}
	fb.hits.Add(1)
	vals, present := r.Header[retrykey.Header]
	fb.keysMu.Lock()
	fb.keys = append(fb.keys, seenKey{present: present, value: strings.Join(vals, ",")})
	fb.keysMu.Unlock()
	if f := fb.first.Load(); f != nil && f.got.CompareAndSwap(nil, fb) {
		switch {
		case f.status == 0:
			fb.hang(r)
		case f.retryAfter:
			w.Header().Set("Retry-After", "1")
			fallthrough
		default:
			http.Error(w, "injected", f.status)
		}
		return
	}
	switch {
	case mode == mode5xx:
		http.Error(w, "injected", http.StatusServiceUnavailable)
		return
	case mode == modeHang, mode == modeFlaky && hangs:
		fb.hang(r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(requestid.Header, r.Header.Get(requestid.Header))
	_ = json.NewEncoder(w).Encode(echo{Backend: fb.name, Method: r.Method, Path: r.URL.Path, Host: r.Host,
		XFF: r.Header.Get("X-Forwarded-For"), XFH: r.Header.Get("X-Forwarded-Host"), XFP: r.Header.Get("X-Forwarded-Proto"),
		Forwarded: r.Header.Get("Forwarded"), RequestID: r.Header.Get(requestid.Header), Other: r.Header.Get("X-Forwarded-Port"),
		BodyLen: len(body), RetryKey: strings.Join(vals, ",")})
}

// backendsYAML renders backends as a YAML flow list, in zones z1, z2, z3, z1, … by
// position.
func backendsYAML(bs ...*fakeBackend) string {
	var parts []string
	for i, b := range bs {
		zone := fmt.Sprintf("z%d", i%3+1)
		parts = append(parts, fmt.Sprintf("{url: %q, zone: %s}", b.URL(), zone))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// fastSettings are the timing settings most tests use: probes every 200ms; attempts
// time out after 2s (generous: a loaded machine running the race detector must not make
// a healthy backend look slow).
const fastSettings = `
routes:
  login: {timeout: 5s, try_timeout: 2s, max_body_bytes: 4096}
  admin: {timeout: 5s, try_timeout: 2s}
health: {interval: 200ms, timeout: 150ms, max_interval: 1s}
outlier: {base_ejection: 2s}
`

// testEdge is an edge serving on loopback, with its control API.
type testEdge struct {
	*Edge
	public, control string
	routes          string
	cancel          context.CancelFunc
	done            chan struct{}
	client          *http.Client
	token           string
}

const testToken = "test-control-token-0123456789abcdef"

type edgeOpts struct {
	region    string
	statePath string
	controlLn net.Listener
}

// startEdge writes routes to a file and runs an edge on it until the test ends.
func startEdge(t testing.TB, routes string, o edgeOpts) *testEdge {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(path, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.region == "" {
		o.region = "west"
	}
	ln := o.controlLn
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	controlURL := "http://" + ln.Addr().String()
	e, err := New(Config{RoutesPath: path, Region: o.region, StatePath: o.statePath, ControlToken: testToken,
		SelfControlURL: controlURL, Logger: slog.New(slog.DiscardHandler), ReloadEvery: 100 * time.Millisecond})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	te := &testEdge{Edge: e, routes: path, cancel: cancel, done: make(chan struct{}), token: testToken,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	go func() { defer close(te.done); e.Run(ctx) }()
	pub := httptest.NewServer(requestid.Middleware(e))
	ctl := httptest.NewUnstartedServer(e.ControlHandler())
	ctl.Listener.Close()
	ctl.Listener = ln
	ctl.Start()
	te.public, te.control = pub.URL, ctl.URL
	t.Cleanup(func() {
		cancel()
		<-te.done
		pub.Close()
		ctl.Close()
		te.client.CloseIdleConnections()
	})
	return te
}

// writeRoutes replaces the routing file (atomically, as an operator's tool would).
func (te *testEdge) writeRoutes(t testing.TB, routes string) {
	t.Helper()
	tmp := te.routes + ".new"
	if err := os.WriteFile(tmp, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, te.routes); err != nil {
		t.Fatal(err)
	}
}

// get sends a GET through the edge and decodes the echo.
func (te *testEdge) get(t testing.TB, path string, hdr map[string]string) (int, echo, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, te.public+path, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ec echo
	_ = json.Unmarshal(raw, &ec)
	return resp.StatusCode, ec, resp.Header, raw
}

// ctl calls the control API; body nil sends none.
func (te *testEdge) ctl(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, te.control+path, rd)
	req.Header.Set("Authorization", "Bearer "+te.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// waitFor polls cond every 20ms for at most d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loadStats is what a load run saw.
type loadStats struct {
	mu                sync.Mutex
	gets, posts       int
	getFail, postFail int
	byBackend         map[string]int
	failures          []string
	perSecond         map[int64]int // successful responses per Unix second
}

func (s *loadStats) record(isPost bool, status int, backend string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byBackend == nil {
		s.byBackend, s.perSecond = map[string]int{}, map[int64]int{}
	}
	failed := err != nil || status >= 500
	if isPost {
		s.posts++
	} else {
		s.gets++
	}
	if failed {
		if isPost {
			s.postFail++
		} else {
			s.getFail++
		}
		if len(s.failures) < 20 {
			m := "POST"
			if !isPost {
				m = "GET"
			}
			s.failures = append(s.failures, fmt.Sprintf("%s: status %d err %v", m, status, err))
		}
		return
	}
	s.byBackend[backend]++
	s.perSecond[time.Now().Unix()]++
}

// runLoad sends n requests with workers in parallel: GET discovery, and a POST token
// request with probability postShare. Bounded by n and by ctx.
func runLoad(ctx context.Context, client *http.Client, base string, workers, n int, postShare float64) *loadStats {
	s := &loadStats{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				s.send(ctx, client, base, rand.Float64() < postShare)
			}
		})
	}
	wg.Wait()
	return s
}

// runMixed sends posts POST requests one after another (a sequential client: at most one
// in flight) while getWorkers send GETs in parallel, until the POSTs are done. Bounded by
// posts and by ctx.
func runMixed(ctx context.Context, client *http.Client, base string, getWorkers, posts int) *loadStats {
	s := &loadStats{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for range posts {
			if ctx.Err() != nil {
				return
			}
			s.send(ctx, client, base, true)
		}
	})
	for range getWorkers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if ctx.Err() != nil {
					return
				}
				s.send(ctx, client, base, false)
			}
		})
	}
	wg.Wait()
	return s
}

// send makes one request through the edge and records it.
func (s *loadStats) send(ctx context.Context, client *http.Client, base string, isPost bool) {
	var req *http.Request
	if isPost {
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/t/acme/token",
			strings.NewReader("grant_type=client_credentials&client_id=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/t/acme/.well-known/openid-configuration", nil)
	}
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return
	}
	status, backend := 0, ""
	if err == nil {
		var ec echo
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(raw, &ec)
		status, backend = resp.StatusCode, ec.Backend
	}
	s.record(isPost, status, backend, err)
}

// listen opens a loopback listener closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
