package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/replay"
	"github.com/ninesid/nines/internal/retrykey"
)

// spy is a bucket that remembers the last value written under each key, so that tests
// can look at what the middleware stored, and can be made unavailable.
type spy struct {
	kv.Bucket
	mu          sync.Mutex
	written     map[string][]byte // key → last value written
	unavailable atomic.Bool
}

func newSpy() *spy {
	return &spy{Bucket: kv.NewMemoryBuckets(nil).Replay, written: map[string][]byte{}}
}

func (s *spy) note(key string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written[key] = bytes.Clone(v)
}

func (s *spy) Create(ctx context.Context, key string, v []byte) (uint64, error) {
	if s.unavailable.Load() {
		return 0, fmt.Errorf("%w: test", kv.ErrUnavailable)
	}
	rev, err := s.Bucket.Create(ctx, key, v)
	if err == nil {
		s.note(key, v)
	}
	return rev, err
}

func (s *spy) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	rev, err := s.Bucket.Update(ctx, key, v, rev)
	if err == nil {
		s.note(key, v)
	}
	return rev, err
}

func (s *spy) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	rev, err := s.Bucket.Put(ctx, key, v)
	if err == nil {
		s.note(key, v)
	}
	return rev, err
}

// keys returns the keys written so far.
func (s *spy) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.written {
		out = append(out, k)
	}
	return out
}

// onlyKey is the one key written so far.
func (s *spy) onlyKey(t *testing.T) string {
	t.Helper()
	ks := s.keys()
	if len(ks) != 1 {
		t.Fatalf("%d keys written, want 1", len(ks))
	}
	return ks[0]
}

// counting is a handler that answers like a token endpoint and counts its runs.
type counting struct {
	runs atomic.Int32
}

const (
	tokenBody  = `{"access_token":"at-secret-0123456789","token_type":"Bearer","refresh_token":"rt-secret-9876543210"}`
	cookieBody = "session=sess-secret-abcdef; Path=/; HttpOnly"
)

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.runs.Add(1)
	var form bytes.Buffer
	_, _ = form.ReadFrom(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Set-Cookie", cookieBody)
	w.Header().Set("X-Run", fmt.Sprint(n))
	w.Header().Set("X-Form", form.String())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(tokenBody))
}

func newMiddleware(t *testing.T, b kv.Bucket, mod ...func(*replay.Config)) *replay.Middleware {
	t.Helper()
	c := replay.Config{Bucket: b}
	for _, f := range mod {
		f(&c)
	}
	m, err := replay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// post makes a token request with key (none when "").
func post(key, path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Basic d2ViOnNlY3JldA==")
	if key != "" {
		r.Header.Set(retrykey.Header, key)
	}
	return r
}

const (
	tokenPath = "/t/acme/token"
	codeForm  = "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Frp%2Fcb"
)

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestFirstAttemptRecordsAndRepeatReplays(t *testing.T) {
	b := newSpy()
	m := newMiddleware(t, b)
	next := &counting{}
	h := m.Wrap(next)
	key := retrykey.New()

	first := serve(h, post(key, tokenPath, codeForm))
	if first.Code != 200 || first.Body.String() != tokenBody || first.Header().Get(retrykey.ReplayedHeader) != "" {
		t.Fatalf("first attempt: %d %q replayed=%q", first.Code, first.Body, first.Header().Get(retrykey.ReplayedHeader))
	}
	if got := first.Header().Get("X-Form"); got != codeForm {
		t.Fatalf("the handler read the body %q, want %q", got, codeForm)
	}
	again := serve(h, post(key, tokenPath, codeForm))
	if n := next.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times, want 1", n)
	}
	if again.Code != 200 || again.Body.String() != tokenBody || again.Header().Get(retrykey.ReplayedHeader) != "1" {
		t.Fatalf("repeat: %d %q replayed=%q", again.Code, again.Body, again.Header().Get(retrykey.ReplayedHeader))
	}
	for _, name := range []string{"Content-Type", "Cache-Control", "Set-Cookie", "X-Run", "X-Form"} {
		if got, want := again.Header().Values(name), first.Header().Values(name); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("repeat's %s = %q, want %q", name, got, want)
		}
	}
	if s := m.Stats(); s[replay.Recorded] != 1 || s[replay.Replayed] != 1 {
		t.Errorf("stats %v, want one recorded and one replayed", s)
	}
	// The counters are exported, one series per outcome.
	got := collected(t, m)
	if got["recorded"] != 1 || got["replayed"] != 1 || len(got) != 6 {
		t.Errorf("nines_replay_requests_total = %v, want recorded 1, replayed 1 and every outcome", got)
	}
}

// collected gathers the collector of m: nines_replay_requests_total by outcome.
func collected(t *testing.T, m *replay.Middleware) map[string]float64 {
	t.Helper()
	c := replay.Collector{Middleware: m}
	reg := prometheus.NewPedanticRegistry() // checks Describe against Collect
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "nines_replay_requests_total" {
			t.Fatalf("unexpected metric %s", mf.GetName())
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestRecordIsSealed(t *testing.T) {
	b := newSpy()
	h := newMiddleware(t, b).Wrap(&counting{})
	key := retrykey.New()
	serve(h, post(key, tokenPath, codeForm))
	id := b.onlyKey(t)
	if len(id) != 64 || strings.Contains(id, key) {
		t.Fatalf("record ID %q: want 64 hex digits that do not hold the key", id)
	}
	e, err := b.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"at-secret", "rt-secret", "sess-secret", key, "code=abc", "application/json"} {
		if bytes.Contains(e.Value, []byte(secret)) {
			t.Errorf("the stored record holds %q in clear", secret)
		}
	}
	// A record that was tampered with does not open: a conflict, never a panic, and
	// the handler does not run again.
	tampered := bytes.Clone(e.Value)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Put(t.Context(), id, tampered); err != nil {
		t.Fatal(err)
	}
	next := &counting{}
	w := serve(newMiddleware(t, b).Wrap(next), post(key, tokenPath, codeForm))
	if w.Code != http.StatusConflict || next.runs.Load() != 0 {
		t.Fatalf("tampered record: %d (ran %d), want 409 without running", w.Code, next.runs.Load())
	}
}

func TestSameKeyOtherRequestRunsSeparately(t *testing.T) {
	b := newSpy()
	next := &counting{}
	h := newMiddleware(t, b).Wrap(next)
	key := retrykey.New()
	serve(h, post(key, tokenPath, codeForm))
	others := []*http.Request{
		post(key, tokenPath, codeForm+"&x=1"),
		post(key, "/t/other/token", codeForm),
		post(key, tokenPath+"?q=1", codeForm),
	}
	r := post(key, tokenPath, codeForm)
	r.Header.Set("Authorization", "Basic b3RoZXI6c2VjcmV0")
	others = append(others, r)
	for i, r := range others {
		w := serve(h, r)
		if w.Code != 200 || w.Header().Get(retrykey.ReplayedHeader) != "" || w.Header().Get("X-Run") != fmt.Sprint(i+2) {
			t.Errorf("request %d: %d replayed=%q run %q, want a run of its own", i, w.Code,
				w.Header().Get(retrykey.ReplayedHeader), w.Header().Get("X-Run"))
		}
	}
	if n := len(b.keys()); n != len(others)+1 {
		t.Errorf("%d records, want %d", n, len(others)+1)
	}
	// Another key with the same request runs again too.
	if w := serve(h, post(retrykey.New(), tokenPath, codeForm)); w.Header().Get(retrykey.ReplayedHeader) != "" {
		t.Error("another key was answered from the record")
	}
}

// An error answer (a 5xx, and a 4xx: the same again on a repeat, and anyone can make
// one) is not recorded: the marker goes and a repeat runs the request again.
func TestErrorAnswerIsNotRecorded(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusUnauthorized, http.StatusBadRequest} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			b := newSpy()
			m := newMiddleware(t, b)
			var runs atomic.Int32
			h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if runs.Add(1) == 1 {
					http.Error(w, "error", status)
					return
				}
				_, _ = w.Write([]byte("ok"))
			}))
			key := retrykey.New()
			if w := serve(h, post(key, tokenPath, codeForm)); w.Code != status {
				t.Fatalf("first attempt: %d, want the handler's %d", w.Code, status)
			}
			if _, err := b.Get(t.Context(), b.onlyKey(t)); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("after a %d the entry is %v, want removed", status, err)
			}
			w := serve(h, post(key, tokenPath, codeForm))
			if w.Code != 200 || w.Body.String() != "ok" || runs.Load() != 2 {
				t.Fatalf("repeat: %d %q after %d runs, want a second run", w.Code, w.Body, runs.Load())
			}
			if w := serve(h, post(key, tokenPath, codeForm)); w.Body.String() != "ok" || w.Header().Get(retrykey.ReplayedHeader) != "1" || runs.Load() != 2 {
				t.Fatalf("third: %q replayed=%q runs %d, want the second run's answer replayed", w.Body,
					w.Header().Get(retrykey.ReplayedHeader), runs.Load())
			}
			if s := m.Stats(); s[replay.NotRecorded] != 1 || s[replay.Recorded] != 1 || s[replay.Replayed] != 1 {
				t.Errorf("stats %v", s)
			}
		})
	}
}

func TestPanicRemovesMarker(t *testing.T) {
	b := newSpy()
	var runs atomic.Int32
	h := newMiddleware(t, b).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if runs.Add(1) == 1 {
			panic("boom")
		}
		_, _ = w.Write([]byte("ok"))
	}))
	key := retrykey.New()
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the handler's panic to go on", v)
			}
		}()
		serve(h, post(key, tokenPath, codeForm))
	}()
	if w := serve(h, post(key, tokenPath, codeForm)); w.Code != 200 || runs.Load() != 2 {
		t.Fatalf("after a panic: %d, %d runs; want the repeat to run", w.Code, runs.Load())
	}
}

func TestConcurrentDuplicates(t *testing.T) {
	b := newSpy()
	m := newMiddleware(t, b, func(c *replay.Config) { c.PollEvery = 5 * time.Millisecond })
	var runs atomic.Int32
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("X-Run", fmt.Sprint(n))
		_, _ = w.Write([]byte(tokenBody))
	}))
	key := retrykey.New()
	const n = 8
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = serve(h, post(key, tokenPath, codeForm)) })
	}
	wg.Wait()
	if got := runs.Load(); got != 1 {
		t.Fatalf("the handler ran %d times, want 1", got)
	}
	replayed := 0
	for i, w := range answers {
		if w.Code != 200 || w.Body.String() != tokenBody || w.Header().Get("X-Run") != "1" {
			t.Errorf("answer %d: %d %q run %q", i, w.Code, w.Body, w.Header().Get("X-Run"))
		}
		if w.Header().Get(retrykey.ReplayedHeader) == "1" {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("%d answers replayed, want %d", replayed, n-1)
	}
}

func TestPendingBeyondBound(t *testing.T) {
	b := newSpy()
	m := newMiddleware(t, b, func(c *replay.Config) {
		c.WaitTimeout = 150 * time.Millisecond
		c.PollEvery = 10 * time.Millisecond
	})
	release, started := make(chan struct{}), make(chan struct{})
	next := &counting{}
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		next.ServeHTTP(w, r)
	}))
	key := retrykey.New()
	firstDone := make(chan *httptest.ResponseRecorder)
	go func() { firstDone <- serve(h, post(key, tokenPath, codeForm)) }()
	<-started

	begin := time.Now()
	w := serve(h, post(key, tokenPath, codeForm))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("repeat while pending: %d Retry-After %q %s, want 503 problem with Retry-After 1",
			w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("answered after %v, before the wait bound", d)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != "urn:nines:problem:unavailable" || p.Status != 503 {
		t.Errorf("problem %s (%v)", w.Body, err)
	}
	// The waiter left the first attempt's marker in place.
	if _, err := b.Get(t.Context(), b.onlyKey(t)); err != nil {
		t.Fatalf("the pending marker: %v, want it kept", err)
	}
	close(release)
	if first := <-firstDone; first.Code != 200 {
		t.Fatalf("first attempt: %d", first.Code)
	}
	if w := serve(h, post(key, tokenPath, codeForm)); w.Header().Get(retrykey.ReplayedHeader) != "1" || next.runs.Load() != 1 {
		t.Fatalf("after the first attempt finished: replayed=%q runs %d", w.Header().Get(retrykey.ReplayedHeader), next.runs.Load())
	}
	if s := m.Stats(); s[replay.WaitedOut] != 1 {
		t.Errorf("stats %v, want one waited_out", s)
	}
}

func TestCallerCancelsFirstAttempt(t *testing.T) {
	b := newSpy()
	m := newMiddleware(t, b)
	release, started := make(chan struct{}), make(chan struct{})
	var ctxErr atomic.Value
	next := &counting{}
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		ctxErr.Store(fmt.Sprint(r.Context().Err()))
		next.ServeHTTP(w, r)
	}))
	key := retrykey.New()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(h, post(key, tokenPath, codeForm).WithContext(ctx))
	}()
	<-started
	cancel() // the edge gave up on this attempt
	close(release)
	<-done
	if got := ctxErr.Load(); got != "<nil>" {
		t.Fatalf("the handler's context: %v, want not cancelled", got)
	}
	w := serve(h, post(key, tokenPath, codeForm))
	if w.Code != 200 || w.Body.String() != tokenBody || w.Header().Get(retrykey.ReplayedHeader) != "1" || next.runs.Load() != 1 {
		t.Fatalf("retry after the caller left: %d %q replayed=%q runs %d", w.Code, w.Body,
			w.Header().Get(retrykey.ReplayedHeader), next.runs.Load())
	}
}

func TestMalformedKey(t *testing.T) {
	b := newSpy()
	m := newMiddleware(t, b)
	next := &counting{}
	h := m.Wrap(next)
	short := post("too-short", tokenPath, codeForm)
	padded := post(retrykey.New()[:20]+"==", tokenPath, codeForm)
	twice := post(retrykey.New(), tokenPath, codeForm)
	twice.Header.Add(retrykey.Header, retrykey.New())
	empty := post("", tokenPath, codeForm)
	empty.Header[retrykey.Header] = []string{""}
	for name, r := range map[string]*http.Request{"short": short, "padded": padded, "twice": twice, "empty": empty} {
		w := serve(h, r)
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
		}
		if w.Code != http.StatusBadRequest || w.Header().Get("Content-Type") != "application/problem+json" ||
			json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Type != "urn:nines:problem:malformed-request" {
			t.Errorf("%s key: %d %s %s, want a 400 problem", name, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
	if next.runs.Load() != 0 || len(b.keys()) != 0 {
		t.Errorf("a malformed key ran the handler (%d) or wrote (%d)", next.runs.Load(), len(b.keys()))
	}
}

func TestBodyTooLarge(t *testing.T) {
	b := newSpy()
	next := &counting{}
	h := newMiddleware(t, b).Wrap(next)
	w := serve(h, post(retrykey.New(), tokenPath, strings.Repeat("a", replay.DefaultMaxBody+1)))
	if w.Code != http.StatusRequestEntityTooLarge || next.runs.Load() != 0 {
		t.Fatalf("oversized body: %d, ran %d; want 413 without running", w.Code, next.runs.Load())
	}
	// At the bound it runs.
	if w := serve(h, post(retrykey.New(), tokenPath, strings.Repeat("a", replay.DefaultMaxBody))); w.Code != 200 {
		t.Fatalf("body at the bound: %d", w.Code)
	}
}

func TestWithoutKeyAndSafeMethodsPassThrough(t *testing.T) {
	b := newSpy()
	next := &counting{}
	h := newMiddleware(t, b).Wrap(next)
	for range 2 {
		if w := serve(h, post("", tokenPath, codeForm)); w.Code != 200 || w.Header().Get("X-Form") != codeForm {
			t.Fatalf("without a key: %d form %q", w.Code, w.Header().Get("X-Form"))
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		for _, key := range []string{retrykey.New(), "malformed"} {
			r := httptest.NewRequest(method, "/t/acme/userinfo", nil)
			r.Header.Set(retrykey.Header, key)
			if w := serve(h, r); w.Code != 200 || w.Header().Get(retrykey.ReplayedHeader) != "" {
				t.Fatalf("%s with key %q: %d", method, key, w.Code)
			}
		}
	}
	if n := next.runs.Load(); n != 2+3*2 {
		t.Errorf("the handler ran %d times, want %d", n, 2+3*2)
	}
	if n := len(b.keys()); n != 0 {
		t.Errorf("%d entries written for requests that pass through", n)
	}
}

func TestBucketUnavailableRunsUnprotected(t *testing.T) {
	b := newSpy()
	b.unavailable.Store(true)
	m := newMiddleware(t, b)
	next := &counting{}
	h := m.Wrap(next)
	key := retrykey.New()
	for i := range 2 {
		w := serve(h, post(key, tokenPath, codeForm))
		if w.Code != 200 || w.Header().Get("X-Form") != codeForm || w.Header().Get(retrykey.ReplayedHeader) != "" {
			t.Fatalf("attempt %d with the bucket down: %d form %q", i, w.Code, w.Header().Get("X-Form"))
		}
	}
	if n := next.runs.Load(); n != 2 {
		t.Errorf("ran %d times, want 2 (no protection without the bucket)", n)
	}
	if s := m.Stats(); s[replay.Unprotected] != 2 {
		t.Errorf("stats %v, want 2 unprotected", s)
	}
}

func TestLargeAnswerNotRecorded(t *testing.T) {
	b := newSpy()
	m := newMiddleware(t, b, func(c *replay.Config) { c.MaxRecord = 1 << 10 })
	var runs atomic.Int32
	page := strings.Repeat("<p>page</p>", 1000)
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.Header().Set("Content-Type", "text/html")
		for i := 0; i < len(page); i += 500 {
			_, _ = w.Write([]byte(page[i:min(i+500, len(page))]))
		}
	}))
	key := retrykey.New()
	for i := range 2 {
		w := serve(h, post(key, tokenPath, codeForm))
		if w.Code != 200 || w.Body.String() != page || w.Header().Get("Content-Type") != "text/html" {
			t.Fatalf("attempt %d: %d, %d bytes, want the whole page", i, w.Code, w.Body.Len())
		}
	}
	if runs.Load() != 2 {
		t.Errorf("ran %d times, want 2 (too large to record)", runs.Load())
	}
	if s := m.Stats(); s[replay.NotRecorded] != 2 {
		t.Errorf("stats %v, want 2 not_recorded", s)
	}
}

func TestNewWithoutBucket(t *testing.T) {
	if _, err := replay.New(replay.Config{}); !errors.Is(err, replay.ErrNoBucket) {
		t.Fatalf("New without a bucket = %v, want ErrNoBucket", err)
	}
}

// A key from a caller that is not an edge is dropped: the request runs as one without
// a key (no record), and next does not see the header.
func TestKeyFromElsewhereIgnored(t *testing.T) {
	b := newSpy()
	m, err := replay.New(replay.Config{Bucket: b, FromEdge: func(r *http.Request) bool { return r.RemoteAddr == "192.0.2.1:1234" }})
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	var sawKey atomic.Bool
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		if r.Header.Get(retrykey.Header) != "" {
			sawKey.Store(true)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	key := retrykey.New()
	for range 2 {
		r := post(key, tokenPath, codeForm)
		r.RemoteAddr = "198.51.100.7:4321"
		if w := serve(h, r); w.Code != 200 || w.Header().Get(retrykey.ReplayedHeader) != "" {
			t.Fatalf("direct caller: %d replayed=%q", w.Code, w.Header().Get(retrykey.ReplayedHeader))
		}
	}
	if runs.Load() != 2 || sawKey.Load() {
		t.Fatalf("runs %d, key seen by next %v; want 2 runs without the header", runs.Load(), sawKey.Load())
	}
	if s := m.Stats(); s[replay.Recorded] != 0 {
		t.Fatalf("stats %v: a direct caller's request was recorded", s)
	}
	r := post(key, tokenPath, codeForm)
	r.RemoteAddr = "192.0.2.1:1234"
	if w := serve(h, r); w.Code != 200 || m.Stats()[replay.Recorded] != 1 {
		t.Fatalf("edge caller: %d, stats %v; want recorded", w.Code, m.Stats())
	}
}
