package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/edge/table"
	"github.com/ninesid/nines/internal/retrykey"
)

// keyedSettings: attempts time out after 1s (the tests of a lost answer wait that long),
// and a login body may reach 1 MiB, above retryBodyMax: a larger one streams through
// unbuffered, without a key.
const keyedSettings = `
routes:
  login: {timeout: 5s, try_timeout: 1s, max_body_bytes: 1048576}
  admin: {timeout: 5s, try_timeout: 1s}
health: {interval: 200ms, timeout: 150ms, max_interval: 1s}
outlier: {base_ejection: 2s}
`

// keyedTier is an edge in front of a region with two login clusters, login-a (a1 in
// zone z1, a2 in z2) and login-b (b1 in z1, b2 in z2), and two admin backends (adm1 in
// z1, adm2 in z2).
type keyedTier struct {
	a1, a2, b1, b2, adm1, adm2 *fakeBackend
	te                         *testEdge
}

// startKeyedTier starts the backends and an edge with settings (keyedSettings when
// empty).
func startKeyedTier(t *testing.T, settings string) *keyedTier {
	t.Helper()
	if settings == "" {
		settings = keyedSettings
	}
	k := &keyedTier{a1: newFakeBackend(t, "a1"), a2: newFakeBackend(t, "a2"), b1: newFakeBackend(t, "b1"),
		b2: newFakeBackend(t, "b2"), adm1: newFakeBackend(t, "adm1"), adm2: newFakeBackend(t, "adm2")}
	zoned := func(bs ...*fakeBackend) string {
		var parts []string
		for _, b := range bs {
			parts = append(parts, fmt.Sprintf("{url: %q, zone: %s}", b.URL(), k.zoneOf(b)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	k.te = startEdge(t, fmt.Sprintf(`
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: %s}
        clusters:
          - {name: login-a, capacity_rps: 100000, backends: %s}
          - {name: login-b, capacity_rps: 100000, backends: %s}
tenants: {default_shard: us}
%s`, zoned(k.adm1, k.adm2), zoned(k.a1, k.a2), zoned(k.b1, k.b2), settings), edgeOpts{})
	return k
}

// all lists every backend, login and admin.
func (k *keyedTier) all() []*fakeBackend {
	return []*fakeBackend{k.a1, k.a2, k.b1, k.b2, k.adm1, k.adm2}
}

// login lists the login backends.
func (k *keyedTier) login() []*fakeBackend { return []*fakeBackend{k.a1, k.a2, k.b1, k.b2} }

// zoneOf is the zone of a backend: z1 for a1, b1 and adm1, z2 for the others.
func (k *keyedTier) zoneOf(b *fakeBackend) string {
	if strings.HasSuffix(b.name, "1") {
		return "z1"
	}
	return "z2"
}

// hits counts the requests (probes left out) every backend got.
func (k *keyedTier) hits() (n int64) {
	for _, b := range k.all() {
		n += b.hits.Load()
	}
	return n
}

// keyCounts notes how many requests each backend has seen so far, for keysSince.
func (k *keyedTier) keyCounts() map[*fakeBackend]int {
	m := map[*fakeBackend]int{}
	for _, b := range k.all() {
		m[b] = len(b.seenKeys())
	}
	return m
}

// keysSince lists the retry keys of the requests the backends got since counts, by
// backend.
func (k *keyedTier) keysSince(counts map[*fakeBackend]int) []seenKey {
	var out []seenKey
	for _, b := range k.all() {
		out = append(out, b.seenKeys()[counts[b]:]...)
	}
	return out
}

// send sends a request through the edge, with the headers of hdr set as given (the name
// not canonicalised: as a client may spell it), and decodes the echo.
func (k *keyedTier) send(t *testing.T, method, path, body string, hdr map[string][]string) (int, echo, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, k.te.public+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range hdr {
		req.Header[name] = vals
	}
	resp, err := k.te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ec echo
	_ = json.Unmarshal(raw, &ec)
	return resp.StatusCode, ec, raw
}

const tokenBody = "grant_type=authorization_code&code=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"

// TestKeyedPostRetriedAfterLostAnswer: a token POST whose first backend takes the
// request and never answers (the answer lost on the way back) is sent again after the
// attempt timeout, to a backend in another cluster and another zone, with the same
// retry key and the whole body; the client gets that backend's answer.
func TestKeyedPostRetriedAfterLostAnswer(t *testing.T) {
	k := startKeyedTier(t, "")
	f := &firstFault{} // status 0: hang until the edge gives up on the attempt
	shareFirstFault(f, k.all()...)
	start := time.Now()
	code, ec, raw := k.send(t, http.MethodPost, "/t/acme/token", tokenBody,
		map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}})
	elapsed := time.Since(start)
	if code != http.StatusOK {
		t.Fatalf("status %d after %s: %s", code, elapsed, raw)
	}
	first := f.got.Load()
	if first == nil {
		t.Fatal("no backend got the first attempt")
	}
	t.Logf("first attempt on %s (hung), answer from %s after %s", first.name, ec.Backend, elapsed.Round(time.Millisecond))
	if ec.Backend == first.name || ec.Method != http.MethodPost || ec.BodyLen != len(tokenBody) {
		t.Fatalf("answer %+v, want the POST with its %d-byte body from a backend other than %s", ec, len(tokenBody), first.name)
	}
	if !retrykey.Valid(ec.RetryKey) {
		t.Fatalf("the retry carried key %q, not a valid retry key", ec.RetryKey)
	}
	if got := first.seenKeys(); len(got) != 1 || !got[0].present || got[0].value != ec.RetryKey {
		t.Fatalf("the first backend saw keys %+v, want the retry's %q", got, ec.RetryKey)
	}
	if n := k.hits(); n != 2 {
		t.Fatalf("backends got the request %d times, want 2", n)
	}
	var second *fakeBackend
	for _, b := range k.login() {
		if b.name == ec.Backend {
			second = b
		}
	}
	if second == nil || k.zoneOf(second) == k.zoneOf(first) || second.name[0] == first.name[0] {
		t.Fatalf("retried from %s to %s: want another cluster and another zone", first.name, ec.Backend)
	}
	if got := value(t, k.te.metrics.keyedRetries); got != 1 {
		t.Fatalf("keyed retries counted %v, want 1", got)
	}
}

// TestClientRetryKeyNeverForwarded: a retry key a client sends never reaches a backend,
// however it is spelled: a login POST carries the edge's own key instead (one value, a
// new key per request), every other request none.
func TestClientRetryKeyNeverForwarded(t *testing.T) {
	k := startKeyedTier(t, "")
	const clientKey = "AAAAAAAAAAAAAAAAAAAAAA" // the shape of a real key
	if !retrykey.Valid(clientKey) {
		t.Fatal("the client's key must look valid")
	}
	large := strings.Repeat("x", retryBodyMax+1000) // streams through unbuffered
	var postKeys []string
	for _, tt := range []struct {
		name, method, path, body string
		hdr                      map[string][]string
		wantKey                  bool
	}{
		{name: "login post", method: http.MethodPost, path: "/t/acme/token", body: tokenBody,
			hdr: map[string][]string{retrykey.Header: {clientKey}}, wantKey: true},
		{name: "login post, lower case, two values", method: http.MethodPost, path: "/t/acme/token", body: tokenBody,
			hdr: map[string][]string{"nines-retry-key": {clientKey, "second"}}, wantKey: true},
		{name: "login post without a body", method: http.MethodPost, path: "/t/acme/logout",
			hdr: map[string][]string{retrykey.Header: {clientKey}}, wantKey: true},
		{name: "login post without a client key", method: http.MethodPost, path: "/t/acme/token", body: tokenBody, wantKey: true},
		{name: "login post too large to buffer", method: http.MethodPost, path: "/t/acme/saml/acs", body: large,
			hdr: map[string][]string{retrykey.Header: {clientKey}}},
		{name: "login get", method: http.MethodGet, path: "/t/acme/.well-known/openid-configuration",
			hdr: map[string][]string{retrykey.Header: {clientKey}}},
		{name: "login get without a client key", method: http.MethodGet, path: "/t/acme/authorize"},
		{name: "login put", method: http.MethodPut, path: "/t/acme/account", body: "{}",
			hdr: map[string][]string{"NINES-RETRY-KEY": {clientKey}}},
		{name: "admin get", method: http.MethodGet, path: "/admin/v1/tenants",
			hdr: map[string][]string{retrykey.Header: {clientKey}}},
		{name: "admin post", method: http.MethodPost, path: "/admin/v1/tenants", body: `{"slug":"acme"}`,
			hdr: map[string][]string{retrykey.Header: {clientKey}}},
		{name: "scim post", method: http.MethodPost, path: "/t/acme/scim/v2/Users", body: `{}`,
			hdr: map[string][]string{retrykey.Header: {clientKey}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			counts := k.keyCounts()
			code, ec, raw := k.send(t, tt.method, tt.path, tt.body, tt.hdr)
			if code != http.StatusOK || ec.BodyLen != len(tt.body) {
				t.Fatalf("status %d: %s", code, raw)
			}
			seen := k.keysSince(counts)
			if len(seen) != 1 {
				t.Fatalf("backends saw %d requests, want 1: %+v", len(seen), seen)
			}
			got := seen[0]
			if !tt.wantKey {
				if got.present {
					t.Fatalf("the backend got retry key %q, want none", got.value)
				}
				return
			}
			if !got.present || !retrykey.Valid(got.value) || got.value == clientKey || got.value != ec.RetryKey {
				t.Fatalf("the backend got retry key %+v (echo %q), want one new valid key", got, ec.RetryKey)
			}
			if slices.Contains(postKeys, got.value) {
				t.Fatalf("key %q given to two requests", got.value)
			}
			postKeys = append(postKeys, got.value)
		})
	}
}

// TestGetRetriedWithoutKey: a GET retried after a 503 carries no retry key on either
// attempt (it is retried because it is idempotent).
func TestGetRetriedWithoutKey(t *testing.T) {
	k := startKeyedTier(t, "")
	f := &firstFault{status: http.StatusServiceUnavailable}
	shareFirstFault(f, k.all()...)
	counts := k.keyCounts()
	code, ec, raw := k.send(t, http.MethodGet, "/t/acme/.well-known/openid-configuration", "", nil)
	if code != http.StatusOK || f.got.Load() == nil || ec.Backend == f.got.Load().name {
		t.Fatalf("status %d from %s: %s", code, ec.Backend, raw)
	}
	seen := k.keysSince(counts)
	if len(seen) != 2 || seen[0].present || seen[1].present {
		t.Fatalf("the attempts carried keys %+v, want two without", seen)
	}
}

// TestKeylessNotRepeatedOnceSent: a request that is not idempotent and has no retry key
// (an admin POST; a login POST whose body was too large to buffer) is not sent again once
// a backend took it: a backend that never answers costs the client a 504 after the
// attempt timeout, and a 503 reaches the client.
func TestKeylessNotRepeatedOnceSent(t *testing.T) {
	k := startKeyedTier(t, "")
	large := strings.Repeat("x", retryBodyMax+1000)
	for _, tt := range []struct {
		name, path, body string
		status           int // of the first backend: 0 hangs
		want             int
	}{
		{name: "admin post hangs", path: "/admin/v1/tenants", body: `{"slug":"acme"}`, want: http.StatusGatewayTimeout},
		{name: "admin post gets 503", path: "/admin/v1/tenants", body: `{"slug":"acme"}`, status: http.StatusServiceUnavailable,
			want: http.StatusServiceUnavailable},
		{name: "unbuffered login post hangs", path: "/t/acme/saml/acs", body: large, want: http.StatusGatewayTimeout},
		{name: "unbuffered login post gets 503", path: "/t/acme/saml/acs", body: large, status: http.StatusServiceUnavailable,
			want: http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &firstFault{status: tt.status}
			shareFirstFault(f, k.all()...)
			before, counts := k.hits(), k.keyCounts()
			code, _, raw := k.send(t, http.MethodPost, tt.path, tt.body, nil)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, raw)
			}
			if tt.status == 0 {
				if p := problemOf(t, raw); p.Type != typeTimeout {
					t.Fatalf("problem %+v", p)
				}
			}
			if n := k.hits() - before; n != 1 {
				t.Fatalf("backends got the request %d times, want 1", n)
			}
			if seen := k.keysSince(counts); len(seen) != 1 || seen[0].present {
				t.Fatalf("the backend got keys %+v, want none", seen)
			}
		})
	}
}

// TestKeyedRetryOnGatewayStatus: a login POST is retried, with its key, after a 502,
// 503 or 504 only; a 500 (the request ran and failed) and a 503 with Retry-After (the
// backend shedding load, not failing) reach the client. A GET is retried after any 5xx
// that counts as a failure, a 500 included (countsAsFailure).
func TestKeyedRetryOnGatewayStatus(t *testing.T) {
	k := startKeyedTier(t, "")
	for _, tt := range []struct {
		name, method, path string
		status             int
		retryAfter         bool
		wantRetry          bool
	}{
		{name: "post 500", method: http.MethodPost, path: "/t/acme/token", status: http.StatusInternalServerError},
		{name: "post 502", method: http.MethodPost, path: "/t/acme/token", status: http.StatusBadGateway, wantRetry: true},
		{name: "post 503", method: http.MethodPost, path: "/t/acme/token", status: http.StatusServiceUnavailable, wantRetry: true},
		{name: "post 504", method: http.MethodPost, path: "/t/acme/token", status: http.StatusGatewayTimeout, wantRetry: true},
		{name: "post 503 with retry-after", method: http.MethodPost, path: "/t/acme/token", status: http.StatusServiceUnavailable,
			retryAfter: true},
		{name: "post 507", method: http.MethodPost, path: "/t/acme/token", status: http.StatusInsufficientStorage},
		{name: "get 500", method: http.MethodGet, path: "/t/acme/authorize", status: http.StatusInternalServerError, wantRetry: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &firstFault{status: tt.status, retryAfter: tt.retryAfter}
			shareFirstFault(f, k.login()...)
			before, counts := k.hits(), k.keyCounts()
			body := ""
			if tt.method == http.MethodPost {
				body = tokenBody
			}
			code, ec, raw := k.send(t, tt.method, tt.path, body, nil)
			hits := k.hits() - before
			seen := k.keysSince(counts)
			if !tt.wantRetry {
				if code != tt.status || hits != 1 {
					t.Fatalf("status %d after %d attempts, want the backend's %d after 1: %s", code, hits, tt.status, raw)
				}
				return
			}
			if code != http.StatusOK || hits != 2 || ec.Backend == f.got.Load().name {
				t.Fatalf("status %d from %s after %d attempts, want 200 from another backend after 2: %s", code, ec.Backend, hits, raw)
			}
			if len(seen) != 2 || seen[0] != seen[1] || seen[0].present != (tt.method == http.MethodPost) {
				t.Fatalf("the attempts carried keys %+v, want the same on both (none for a GET)", seen)
			}
		})
	}
}

// TestKeyedRetryBudget: with a budget of 5% and a burst of 2, login POSTs to a tier
// whose every backend answers 503 are retried for at most 5% of the requests plus 2;
// the other failures reach the client unretried.
func TestKeyedRetryBudget(t *testing.T) {
	// Ejection effectively off, so that every backend stays in and fails.
	k := startKeyedTier(t, `
routes:
  login: {timeout: 5s, try_timeout: 2s}
health: {interval: 200ms, timeout: 150ms}
outlier: {consecutive_failures: 1000, min_requests: 100000}
retry: {budget_ratio: 0.05, budget_burst: 2}
`)
	for _, b := range k.login() {
		b.setMode(mode5xx)
	}
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := runLoad(ctx, k.te.client, k.te.public, 2, n, 1)
	if s.posts != n {
		t.Fatalf("%d POSTs sent, want %d", s.posts, n)
	}
	var hits int64
	for _, b := range k.login() {
		hits += b.hits.Load()
	}
	retries := hits - n
	limit := 0.05*n + 2
	t.Logf("%d POSTs, %d failed at the client, %d retries (budget %.0f)", n, s.postFail, retries, limit)
	if retries < 1 || float64(retries) > limit+1 {
		t.Fatalf("retries %d, want between 1 and %.0f", retries, limit)
	}
	if s.postFail != n {
		t.Fatalf("%d POSTs failed, want all %d (every backend answers 503)", s.postFail, n)
	}
	if got := value(t, k.te.metrics.keyedRetries); got != float64(retries) {
		t.Fatalf("keyed retries counted %v, want %d", got, retries)
	}
	if got := value(t, k.te.metrics.retryRefused); got == 0 {
		t.Fatal("refused retries not counted")
	}
}

// zonesTable: region west with two login clusters and the admin tier, each with a
// backend in zones a, b and c; region east (west's failover) with one backend in its
// own zone b.
const zonesTable = `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9001", zone: a}, {url: "http://127.0.0.1:9002", zone: b}, {url: "http://127.0.0.1:9003", zone: c}]}
        clusters:
          - {name: login-1, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9011", zone: a}, {url: "http://127.0.0.1:9012", zone: b}, {url: "http://127.0.0.1:9013", zone: c}]}
          - {name: login-2, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9021", zone: a}, {url: "http://127.0.0.1:9022", zone: b}, {url: "http://127.0.0.1:9023", zone: c}]}
      - name: east
        clusters:
          - {name: login-3, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9031", zone: b}]}
tenants: {default_shard: us}
`

// TestPickRetryAvoidsTriedZone: a first attempt spreads over every zone; a retry after a
// failure in zone b goes to another cluster in another zone, else another zone of the
// same cluster, else another cluster in zone b, and never to zone b while another zone
// of the region is usable (a drained zone is not); the admin tier likewise. Each case
// picks pickRounds times; every allowed backend must come up, and nothing else. pick
// allocates nothing.
func TestPickRetryAvoidsTriedZone(t *testing.T) {
	tbl, err := table.Parse([]byte(zonesTable))
	if err != nil {
		t.Fatal(err)
	}
	const pickRounds = 400
	all := []string{"1a", "1b", "1c", "2a", "2b", "2c"}
	for _, tt := range []struct {
		name, method, path string
		tried              []string // backends by cluster digit (admin: "x") and zone
		unusable           []string // unhealthy backends
		drained            []string // zones of west
		want               []string // every backend the picks may and must reach
		panicked           bool
		pin                string   // rq.pinRegion: a keyed request that reached a backend there
		failing            []string // clusters (by digit) with a recent failure, beside the tried ones'
		out                []string // clusters (by digit) ejected as a whole
		none               bool     // nothing may be picked
	}{
		{name: "first attempt ignores zones", method: "GET", path: "/t/acme/authorize", want: all},
		{name: "first attempt of a post", method: "POST", path: "/t/acme/token", want: all},
		{name: "retry: another cluster, another zone", method: "GET", path: "/t/acme/authorize", tried: []string{"1b"},
			want: []string{"2a", "2c"}},
		{name: "retry of a post", method: "POST", path: "/t/acme/token", tried: []string{"1b"}, want: []string{"2a", "2c"}},
		{name: "another zone of the same cluster before the same zone elsewhere", method: "GET", path: "/t/acme/authorize",
			tried: []string{"1b"}, unusable: []string{"2a", "2c"}, want: []string{"1a", "1c"}},
		// The health level comes first: a POST prefers a clean cluster (no recent
		// failure), even in the tried zone, to the cluster that just failed.
		{name: "a post prefers a clean cluster to another zone", method: "POST", path: "/t/acme/token",
			tried: []string{"1b"}, unusable: []string{"2a", "2c"}, want: []string{"2b"}},
		{name: "another cluster when no other zone is usable", method: "GET", path: "/t/acme/authorize", tried: []string{"1b"},
			unusable: []string{"1a", "1c", "2a", "2c"}, want: []string{"2b"}},
		{name: "a drained zone is not usable", method: "POST", path: "/t/acme/token", tried: []string{"1b"},
			drained: []string{"a", "c"}, want: []string{"2b"}},
		{name: "another region when nothing in the region is usable", method: "GET", path: "/t/acme/authorize",
			tried: []string{"1b"}, unusable: all, want: []string{"3b"}},
		{name: "panic routing keeps the preferences", method: "GET", path: "/t/acme/authorize", tried: []string{"1b"},
			unusable: append([]string{"3b"}, all...), want: []string{"2a", "2c"}, panicked: true},
		{name: "a keyed retry stays in its region", method: "POST", path: "/t/acme/token", tried: []string{"1b"},
			pin: "west", unusable: all[1:], want: []string{"1a"}},
		{name: "a keyed retry never leaves its region, panic routing included", method: "POST", path: "/t/acme/token",
			tried: []string{"1b"}, pin: "west", drained: []string{"a", "b", "c"}, none: true},
		{name: "a keyed retry after a connect failure may leave the region", method: "POST", path: "/t/acme/token",
			tried: []string{"1b"}, drained: []string{"a", "b", "c"}, want: []string{"3b"}},
		// A whole region failing: one cluster of west ejected, the other with a recent
		// failure, kept usable by the cap — the retry leaves for east's clean backend.
		{name: "a retry leaves a failing region", method: "GET", path: "/t/acme/authorize",
			tried: []string{"2b"}, failing: []string{"2"}, out: []string{"1"}, want: []string{"3b"}},
		{name: "a keyed retry stays, even in a failing region", method: "POST", path: "/t/acme/token",
			tried: []string{"2b"}, failing: []string{"2"}, out: []string{"1"}, pin: "west", want: []string{"2a", "2c"}},
		// Scattered failures are not a failing region: no cluster is out.
		{name: "a retry stays when no cluster is out", method: "GET", path: "/t/acme/authorize",
			tried: []string{"1b"}, failing: []string{"2"}, want: []string{"2a", "2c"}},
		{name: "admin first attempt", method: "POST", path: "/admin/v1/tenants", want: []string{"xa", "xb", "xc"}},
		{name: "admin retry", method: "GET", path: "/admin/v1/tenants", tried: []string{"xb"}, want: []string{"xa", "xc"}},
		{name: "admin retry, one other zone down", method: "GET", path: "/admin/v1/tenants", tried: []string{"xb"},
			unusable: []string{"xa"}, want: []string{"xc"}},
		{name: "admin retry, panic routing", method: "GET", path: "/admin/v1/tenants", tried: []string{"xb"},
			unusable: []string{"xa", "xc"}, drained: []string{"c"}, want: []string{"xa"}, panicked: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := buildRouting(tbl, "west", nil, func(string) *clusterStats { return &clusterStats{win: newWindow(10e9)} })
			name := func(b *backend) string {
				c := "x"
				if b.cluster != "" {
					c = b.cluster[len(b.cluster)-1:]
				}
				return c + b.zone
			}
			byName := map[string]*backend{}
			for _, b := range rt.backends {
				byName[name(b)] = b
			}
			var tried []*backend
			now := time.Now()
			for _, n := range tt.tried {
				b := byName[n]
				tried = append(tried, b)
				// As observe records a failed attempt.
				b.lastFailure.Store(now.UnixNano())
				if c := rt.clusters[b.region+"/"+b.cluster]; c != nil {
					c.stats.lastFailure.Store(now.UnixNano())
				}
			}
			for _, n := range tt.unusable {
				byName[n].healthy.Store(false)
			}
			for _, c := range tt.failing {
				rt.clusters["west/login-"+c].stats.lastFailure.Store(now.UnixNano())
			}
			for _, c := range tt.out {
				rt.clusters["west/login-"+c].def.st.ejectedUntil.Store(now.Add(time.Minute).UnixNano())
			}
			var o Overrides
			for _, z := range tt.drained {
				o.DrainedZones = append(o.DrainedZones, "west/"+z)
			}
			st := newOpState(o)
			r := httptest.NewRequest(tt.method, "http://edge.example"+tt.path, nil)
			rq, ok := rt.classify(r)
			if !ok {
				t.Fatal("not routed")
			}
			rq.pinRegion = tt.pin
			if tt.none {
				if got, _ := pick(rq, st, tried, now); got.b != nil {
					t.Fatalf("picked %s, want nothing", name(got.b))
				}
				return
			}
			seen := map[string]int{}
			for range pickRounds {
				got, panicked := pick(rq, st, tried, now)
				if got.b == nil {
					t.Fatal("nothing picked")
				}
				if panicked != tt.panicked {
					t.Fatalf("picked %s with panic routing %v, want %v", name(got.b), panicked, tt.panicked)
				}
				seen[name(got.b)]++
			}
			var got []string
			for n := range seen {
				got = append(got, n)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("picked %v, want each of %v", seen, tt.want)
			}
			if allocs := testing.AllocsPerRun(50, func() { pick(rq, st, tried, now) }); allocs != 0 {
				t.Fatalf("pick allocated %v times per call", allocs)
			}
		})
	}
}
