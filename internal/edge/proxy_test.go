package edge

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// twoClusters is a region with two login clusters of two backends each, an admin
// backend, and a second region with one cluster.
type twoClusters struct {
	a1, a2, b1, b2, admin, east *fakeBackend
}

func newTwoClusters(t testing.TB) *twoClusters {
	return &twoClusters{a1: newFakeBackend(t, "a1"), a2: newFakeBackend(t, "a2"), b1: newFakeBackend(t, "b1"),
		b2: newFakeBackend(t, "b2"), admin: newFakeBackend(t, "admin"), east: newFakeBackend(t, "east")}
}

// routes is the routing table of the clusters with settings (fastSettings when empty).
func (tc *twoClusters) routes(settings string) string {
	if settings == "" {
		settings = fastSettings
	}
	return fmt.Sprintf(`
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: %s}
        clusters:
          - {name: login-a, capacity_rps: 100000, backends: %s}
          - {name: login-b, capacity_rps: 100000, backends: %s}
      - name: east
        clusters:
          - {name: login-c, capacity_rps: 100000, backends: %s}
tenants:
  default_shard: us
hosts:
  login.acme.example: acme
%s`, backendsYAML(tc.admin), backendsYAML(tc.a1, tc.a2), backendsYAML(tc.b1, tc.b2), backendsYAML(tc.east), settings)
}

func TestProxyRewritesForwardingHeaders(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	code, ec, hdr, raw := te.get(t, "/t/acme/.well-known/openid-configuration", map[string]string{
		"Forwarded":         "for=6.6.6.6;host=evil.example;proto=https",
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Host":  "evil.example",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Port":  "443",
		"X-Request-Id":      "client-chosen-id-123",
		"Host":              "idp.example",
	})
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, raw)
	}
	want := echo{Backend: ec.Backend, Method: "GET", Path: "/t/acme/.well-known/openid-configuration", Host: "idp.example",
		XFF: "127.0.0.1", XFH: "idp.example", XFP: "http", Forwarded: `for=127.0.0.1;host="idp.example";proto=http`,
		RequestID: "client-chosen-id-123"}
	if ec != want {
		t.Fatalf("backend saw %+v\nwant %+v", ec, want)
	}
	if !strings.HasPrefix(ec.Backend, "a") && !strings.HasPrefix(ec.Backend, "b") {
		t.Fatalf("login request reached %s", ec.Backend)
	}
	if got := hdr.Values("X-Request-Id"); len(got) != 1 || got[0] != "client-chosen-id-123" {
		t.Fatalf("response request IDs %v", got)
	}
	// A request without an acceptable ID gets one from the edge, and the backend sees it.
	_, ec, hdr, _ = te.get(t, "/t/acme/login", map[string]string{"X-Request-Id": "bad id"})
	if ec.RequestID == "" || ec.RequestID == "bad id" || ec.RequestID != hdr.Get("X-Request-Id") {
		t.Fatalf("request id: backend %q, response %q", ec.RequestID, hdr.Get("X-Request-Id"))
	}
}

func TestProxyTierRouting(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	for _, tt := range []struct {
		path, host  string
		wantBackend string // prefix; "" means a 404 problem from the edge
		wantPath    string
	}{
		{path: "/admin/v1/tenants", wantBackend: "admin", wantPath: "/admin/v1/tenants"},
		{path: "/t/acme/scim/v2/Users", wantBackend: "admin", wantPath: "/t/acme/scim/v2/Users"},
		{path: "/t/acme/authorize", wantBackend: "login", wantPath: "/t/acme/authorize"},
		{path: "/.well-known/openid-configuration", host: "login.acme.example", wantBackend: "login",
			wantPath: "/t/acme/.well-known/openid-configuration"},
		{path: "/.well-known/openid-configuration"},
		{path: "/metrics"},
		{path: "/t/other/authorize", host: "login.acme.example"},
	} {
		t.Run(tt.path+"@"+tt.host, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.host != "" {
				hdr["Host"] = tt.host
			}
			code, ec, h, raw := te.get(t, tt.path, hdr)
			if tt.wantBackend == "" {
				if code != http.StatusNotFound || h.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d %s: %s", code, h.Get("Content-Type"), raw)
				}
				if p := problemOf(t, raw); p.Type != typeNotFound || p.RequestID == "" {
					t.Fatalf("problem %+v", p)
				}
				return
			}
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, raw)
			}
			isAdmin := ec.Backend == "admin"
			if (tt.wantBackend == "admin") != isAdmin || ec.Path != tt.wantPath {
				t.Fatalf("reached %s at %s, want %s at %s", ec.Backend, ec.Path, tt.wantBackend, tt.wantPath)
			}
			if ec.Backend == "east" {
				t.Fatalf("login traffic left the edge's region")
			}
		})
	}
}

func TestProxyBodyLimit(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"within", 4096, false, http.StatusOK},
		{"declared too large", 4097, false, http.StatusRequestEntityTooLarge},
		{"chunked too large", 8000, true, http.StatusRequestEntityTooLarge},
		{"chunked within", 100, true, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(strings.Repeat("x", tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, te.public+"/t/acme/token", body)
			resp, err := te.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, raw)
			}
			if tt.want == http.StatusRequestEntityTooLarge {
				if p := problemOf(t, raw); p.Type != typeTooLarge {
					t.Fatalf("problem %+v", p)
				}
			} else if !strings.Contains(string(raw), fmt.Sprintf(`"body_len":%d`, tt.size)) {
				t.Fatalf("backend got %s", raw)
			}
		})
	}
}

// TestWeightedSplit: the default weights split a region's login traffic evenly between
// its clusters and evenly between a cluster's backends; weights set through the control
// API change the split at once.
func TestWeightedSplit(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	share := func(s *loadStats) float64 {
		a := s.byBackend["a1"] + s.byBackend["a2"]
		return float64(a) / float64(a+s.byBackend["b1"]+s.byBackend["b2"])
	}
	ctx := context.Background()
	s := runLoad(ctx, te.client, te.public, 4, 2000, 0)
	if s.getFail != 0 {
		t.Fatalf("failures: %v", s.failures)
	}
	// 2000 draws of a fair coin: 5 standard deviations is ±0.056.
	if got := share(s); math.Abs(got-0.5) > 0.056 {
		t.Fatalf("login-a share %.3f, want 0.5 (%v)", got, s.byBackend)
	}
	if s.byBackend["a1"] == 0 || s.byBackend["a2"] == 0 || s.byBackend["east"] != 0 {
		t.Fatalf("split %v", s.byBackend)
	}
	code, raw := te.ctl(t, "PUT", "/v1/weights", map[string]any{"weights": map[string]int{"login-a": 10, "login-b": 90}, "reason": "test"})
	if code != http.StatusOK {
		t.Fatalf("set weights: %d %s", code, raw)
	}
	s = runLoad(ctx, te.client, te.public, 4, 2000, 0)
	if got := share(s); math.Abs(got-0.1) > 0.034 { // 5 sd of 2000 draws at p=0.1
		t.Fatalf("login-a share %.3f after 10/90, want 0.1 (%v)", got, s.byBackend)
	}
	// Weight 0 on both: the clusters still serve, evenly (weight is a preference).
	if code, raw := te.ctl(t, "PUT", "/v1/weights", map[string]any{"weights": map[string]int{"login-a": 0, "login-b": 0}, "force": true}); code != http.StatusOK {
		t.Fatalf("zero weights: %d %s", code, raw)
	}
	s = runLoad(ctx, te.client, te.public, 4, 1000, 0)
	if s.getFail != 0 || math.Abs(share(s)-0.5) > 0.08 {
		t.Fatalf("zero weights: share %.3f, failures %v", share(s), s.failures)
	}
}

// TestNoBackendProblem: with every backend of the tier drained, the edge answers 503 with
// a problem and Retry-After, at once.
func TestNoBackendProblem(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	for _, z := range []string{"z1"} { // the admin backend is alone in z1
		if code, raw := te.ctl(t, "POST", "/v1/drain", map[string]any{"zone": z, "force": true}); code != http.StatusOK {
			t.Fatalf("drain: %d %s", code, raw)
		}
	}
	start := time.Now()
	code, _, hdr, raw := te.get(t, "/admin/v1/tenants", nil)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "1" || time.Since(start) > 2*time.Second {
		t.Fatalf("status %d retry-after %q: %s", code, hdr.Get("Retry-After"), raw)
	}
	if p := problemOf(t, raw); p.Type != typeUnavailable {
		t.Fatalf("problem %+v", p)
	}
}

// TestLoginPostRepeatedWithRetryKey: a login POST that got a 503 is sent once more, to
// another backend, because the edge gave it a retry key (the login tier answers a
// repeat from its record); an Idempotency-Key from the client changes nothing (no
// backend deduplicates on it). A GET that got the same 503 is retried too. Requests
// without a key that reached a backend are never sent again: see
// TestKeylessNotRepeatedOnceSent.
func TestLoginPostRepeatedWithRetryKey(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	all := []*fakeBackend{tc.a1, tc.a2, tc.b1, tc.b2, tc.east}
	for _, b := range all {
		b.setMode(mode5xx)
	}
	hits := func() (n int64) {
		for _, b := range all {
			n += b.hits.Load()
		}
		return n
	}
	for _, tt := range []struct {
		name, method, path, key string
		wantHits                int64
	}{
		{name: "post with idempotency key", method: http.MethodPost, path: "/t/acme/token", key: "k1", wantHits: 2},
		{name: "post", method: http.MethodPost, path: "/t/acme/token", wantHits: 2},
		{name: "get", method: http.MethodGet, path: "/t/acme/.well-known/openid-configuration", wantHits: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := hits()
			var body io.Reader
			if tt.method == http.MethodPost {
				body = strings.NewReader("grant_type=authorization_code&code=c1")
			}
			req, _ := http.NewRequest(tt.method, te.public+tt.path, body)
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			resp, err := te.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want the backend's 503", resp.StatusCode)
			}
			if got := hits() - before; got != tt.wantHits {
				t.Fatalf("backends saw the request %d times, want %d", got, tt.wantHits)
			}
		})
	}
}
