package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/edge/table"
)

// affinityTable: shard us in west (login-1: 1a tagged t1a, 1b, 1c; login-2: 2a tagged
// t2a, 2b, 2c, and its SAML service on s1 tagged ts1; the admin tier) and east (login-3:
// 3b tagged t3b); shard eu (tenant globex) with one cluster, its backend tagged teu.
const affinityTable = `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9001", zone: a}]}
        clusters:
          - {name: login-1, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9011", zone: a, instance: t1a}, {url: "http://127.0.0.1:9012", zone: b}, {url: "http://127.0.0.1:9013", zone: c}]}
          - name: login-2
            capacity_rps: 100
            backends: [{url: "http://127.0.0.1:9021", zone: a, instance: t2a}, {url: "http://127.0.0.1:9022", zone: b}, {url: "http://127.0.0.1:9023", zone: c}]
            services: {saml: {backends: [{url: "http://127.0.0.1:9024", zone: a, instance: ts1}]}}
      - name: east
        clusters:
          - {name: login-3, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9031", zone: b, instance: t3b}]}
  - name: eu
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9101", zone: a}]}
        clusters:
          - {name: login-e, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9111", zone: a, instance: teu}]}
tenants:
  default_shard: us
  shards: {globex: eu}
hosts:
  login.acme.example: acme
`

// affinityRouting builds the routing of affinityTable for an edge in west.
func affinityRouting(t testing.TB) *routing {
	t.Helper()
	tbl, err := table.Parse([]byte(affinityTable))
	if err != nil {
		t.Fatal(err)
	}
	return buildRouting(tbl, "west", nil, func(string) *clusterStats { return &clusterStats{win: newWindow(10e9)} })
}

// routed classifies r and buffers its body as ServeHTTP does (up to retryBodyMax),
// without reading the tag.
func routed(t testing.TB, rt *routing, r *http.Request) *routeReq {
	t.Helper()
	rq, ok := rt.classify(r)
	if !ok {
		t.Fatalf("%s %s not routed", r.Method, r.URL)
	}
	rq.replayable = true
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, retryBodyMax+1))
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) > retryBodyMax {
			rq.replayable = false
		} else {
			rq.body = buf
		}
	}
	return rq
}

const formType = "application/x-www-form-urlencoded"

// TestRequestTag: the tag comes from the first artifact that carries one: the form
// fields code, refresh_token, device_code, id (a POST form only), then the query's id,
// then the tenant's session cookie; a malformed form, another content type, an
// untagged value or another tenant's cookie carries none.
func TestRequestTag(t *testing.T) {
	rt := affinityRouting(t)
	big := "code=n1.x&pad=" + strings.Repeat("a", retryBodyMax)
	for _, tt := range []struct {
		name, method, target, ctype, body string
		host                              string
		cookies                           []string // Cookie header lines
		want                              string
	}{
		{name: "form code", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "grant_type=authorization_code&code=login-a.AbC_-12&redirect_uri=https%3A%2F%2Fapp", want: "login-a"},
		{name: "form refresh_token", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "grant_type=refresh_token&refresh_token=r9.AbC", want: "r9"},
		{name: "form device_code", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dev-1.xyz", want: "dev-1"},
		{name: "form id (login form)", method: "POST", target: "/t/acme/login", ctype: formType,
			body: "id=n2.req&username=a%40b&password=x", want: "n2"},
		{name: "content type with a charset", method: "POST", target: "/t/acme/token", ctype: "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
			body: "code=n1.x", want: "n1"},
		{name: "field order: code before id", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "id=n2.req&code=n1.x", want: "n1"},
		{name: "an untagged code gives way to a tagged refresh token", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "code=AbC&refresh_token=n3.x", want: "n3"},
		{name: "the first value of a field", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "code=AbC&code=n1.x", want: ""},
		{name: "an encoded key and value", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "c%6Fde=n%31%2Ex", want: "n1"},
		{name: "form before query and cookie", method: "POST", target: "/t/acme/login?id=q1.x", ctype: formType,
			body: "id=n2.req", cookies: []string{"__Host-nines-acme=c1.s"}, want: "n2"},
		{name: "untagged form values", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "grant_type=authorization_code&code=AbC_-12&refresh_token=.x&device_code=UPPER.x&id=-x.y", want: ""},
		{name: "untagged form, then query", method: "POST", target: "/t/acme/login?id=q1.x", ctype: formType,
			body: "id=req", want: "q1"},
		{name: "malformed form: bad escape", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "code=n1.x&state=%zz", want: ""},
		{name: "malformed form: semicolon", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "code=n1.x;a=b", want: ""},
		{name: "malformed form, then cookie", method: "POST", target: "/t/acme/token", ctype: formType,
			body: "code=n1.x&%", cookies: []string{"nines-acme=c2.s"}, want: "c2"},
		{name: "json body ignored", method: "POST", target: "/t/acme/token", ctype: "application/json",
			body: "code=n1.x", want: ""},
		{name: "no content type", method: "POST", target: "/t/acme/token", body: "code=n1.x", want: ""},
		{name: "form fields of a PUT ignored", method: "PUT", target: "/t/acme/token", ctype: formType,
			body: "code=n1.x", want: ""},
		{name: "a body too large to buffer is not read", method: "POST", target: "/t/acme/token", ctype: formType,
			body: big, want: ""},
		{name: "query id", method: "GET", target: "/t/acme/login?id=q1.AbC", want: "q1"},
		{name: "query id encoded", method: "GET", target: "/t/acme/login?x=1&id=q%31.AbC", want: "q1"},
		{name: "query: an invalid pair is skipped", method: "GET", target: "/t/acme/login?x=%zz&id=q1.AbC", want: "q1"},
		{name: "query code ignored", method: "GET", target: "/t/acme/login?code=q1.AbC", want: ""},
		{name: "untagged query id", method: "GET", target: "/t/acme/login?id=AbC", want: ""},
		{name: "untagged query id, then cookie", method: "GET", target: "/t/acme/login?id=AbC",
			cookies: []string{"__Host-nines-acme=c1.s"}, want: "c1"},
		{name: "secure cookie", method: "GET", target: "/t/acme/authorize", cookies: []string{"a=b; __Host-nines-acme=c1.s; c=d"}, want: "c1"},
		{name: "plain cookie", method: "GET", target: "/t/acme/authorize", cookies: []string{"nines-acme=c2.s"}, want: "c2"},
		{name: "quoted cookie", method: "GET", target: "/t/acme/authorize", cookies: []string{`nines-acme="c2.s"`}, want: "c2"},
		{name: "secure cookie first", method: "GET", target: "/t/acme/authorize",
			cookies: []string{"nines-acme=c2.s", "__Host-nines-acme=c1.s"}, want: "c1"},
		{name: "untagged secure cookie, then plain", method: "GET", target: "/t/acme/authorize",
			cookies: []string{"__Host-nines-acme=s; nines-acme=c2.s"}, want: "c2"},
		{name: "another tenant's cookie", method: "GET", target: "/t/acme/authorize",
			cookies: []string{"__Host-nines-globex=c1.s; nines-acmecorp=c2.s; __Host-nines-acme-x=c3.s"}, want: ""},
		{name: "custom host: its tenant's cookie", method: "GET", target: "/authorize", host: "login.acme.example",
			cookies: []string{"__Host-nines-acme=c1.s"}, want: "c1"},
		{name: "admin tier: no tag", method: "POST", target: "/admin/v1/tenants/acme/users?id=q1.x", ctype: formType,
			body: "code=n1.x", cookies: []string{"__Host-nines-acme=c1.s"}, want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, "http://edge.example"+tt.target, body)
			if tt.host != "" {
				r.Host = tt.host
			}
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			for _, c := range tt.cookies {
				r.Header.Add("Cookie", c)
			}
			rq := routed(t, rt, r)
			rt.tagRequest(rq, r)
			if rq.tag != tt.want {
				t.Fatalf("tag %q, want %q", rq.tag, tt.want)
			}
		})
	}
}

// TestRequestTagAllocs: reading a tag allocates at most the tag itself, and nothing
// for a request that carries none.
func TestRequestTagAllocs(t *testing.T) {
	rt := affinityRouting(t)
	for _, tt := range []struct {
		name, method, target, body string
		cookie                     string
		max                        float64
	}{
		{name: "tagged form", method: "POST", target: "/t/acme/token", body: "grant_type=authorization_code&code=t1a.AbC_-12&redirect_uri=x", max: 1},
		{name: "untagged form", method: "POST", target: "/t/acme/token", body: "grant_type=authorization_code&code=AbC_-12&redirect_uri=x"},
		{name: "tagged query", method: "GET", target: "/t/acme/login?id=t1a.AbC", max: 1},
		{name: "tagged cookie", method: "GET", target: "/t/acme/authorize", cookie: "x=y; __Host-nines-acme=t1a.AbC", max: 0},
		{name: "nothing", method: "GET", target: "/t/acme/authorize?x=y", cookie: "x=y"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://edge.example"+tt.target, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", formType)
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			rq := routed(t, rt, r)
			if allocs := testing.AllocsPerRun(100, func() { requestTag(r, rq) }); allocs > tt.max {
				t.Fatalf("requestTag allocated %v times per call, want at most %v", allocs, tt.max)
			}
		})
	}
}

// FuzzFormTag: the form scan agrees with url.ParseQuery: no tag from a form it refuses,
// else the tag of the first of code, refresh_token, device_code and id (each's first
// value) that carries one.
func FuzzFormTag(f *testing.F) {
	for _, s := range []string{"code=n1.x", "code=a&refresh_token=n2.x", "c%6Fde=n%31.x", "code=n1.x;", "code=n1.x&%zz",
		"id=-a.b&device_code=d.e", "&&code=&code=n1.x", "code=n1+x.y", "code=" + strings.Repeat("a", 40) + ".x", "code=%6e1.x",
		"code=n1%2", "=x&code", strings.Repeat("&", maxFormPairs) + "code=n1.x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want := ""
		if vs, err := url.ParseQuery(string(body)); err == nil {
			for _, field := range formFields {
				if want = affinity.TagOf(vs.Get(field)); want != "" {
					break
				}
			}
		}
		got := ""
		var vals [len(formFields)][]byte
		if scanForm(body, vals[:], true) {
			for _, v := range vals {
				if got = tagOf(v); got != "" {
					break
				}
			}
		}
		if got != want {
			t.Fatalf("%q: tag %q, want %q (as url.ParseQuery reads it)", body, got, want)
		}
	})
}

// TestPickAffinity: a first attempt with a tag goes to the backend with it every time
// while that backend can take it — in the other cluster, in the failover region, on a
// service's pool — and is picked as usual when it cannot (unhealthy, ejected, its
// cluster ejected or drained, its zone drained, its region failed over, another shard's,
// another service's) or when no backend has the tag; a retry ignores the tag. pick still
// allocates nothing.
func TestPickAffinity(t *testing.T) {
	const rounds = 100
	westAll := []string{"1a", "1b", "1c", "2a", "2b", "2c"}
	for _, tt := range []struct {
		name, method, path string
		tag                string
		unusable           []string // unhealthy backends
		ejected            []string // backends ejected by outlier detection
		poolOut            string   // a cluster (login-1, login-2) whose default pool is ejected
		o                  Overrides
		tried              []string
		failed             []string // backends with a failure just now (not clean)
		want               []string // every backend the picks may and must reach
		outcome            string
	}{
		{name: "tagged GET", method: "GET", path: "/t/acme/authorize", tag: "t2a", want: []string{"2a"}, outcome: affinityHit},
		{name: "tagged POST", method: "POST", path: "/t/acme/token", tag: "t1a", want: []string{"1a"}, outcome: affinityHit},
		{name: "against the weights", method: "POST", path: "/t/acme/token", tag: "t2a",
			o: Overrides{Weights: map[string]map[string]int{"west": {"login-1": 1000, "login-2": 0}}}, want: []string{"2a"}, outcome: affinityHit},
		{name: "in the failover region", method: "GET", path: "/t/acme/authorize", tag: "t3b", want: []string{"3b"}, outcome: affinityHit},
		{name: "on a service's pool", method: "GET", path: "/t/acme/saml/sso", tag: "ts1", want: []string{"2s"}, outcome: affinityHit},
		{name: "despite a recent failure", method: "POST", path: "/t/acme/token", tag: "t1a", failed: []string{"1a"}, want: []string{"1a"}, outcome: affinityHit},
		{name: "unhealthy", method: "GET", path: "/t/acme/authorize", tag: "t2a", unusable: []string{"2a"},
			want: []string{"1a", "1b", "1c", "2b", "2c"}, outcome: affinityUnusable},
		{name: "ejected", method: "GET", path: "/t/acme/authorize", tag: "t2a", ejected: []string{"2a"},
			want: []string{"1a", "1b", "1c", "2b", "2c"}, outcome: affinityUnusable},
		{name: "its cluster ejected", method: "GET", path: "/t/acme/authorize", tag: "t2a", poolOut: "login-2",
			want: []string{"1a", "1b", "1c"}, outcome: affinityUnusable},
		{name: "its cluster drained", method: "GET", path: "/t/acme/authorize", tag: "t2a",
			o: Overrides{DrainedClusters: []string{"west/login-2"}}, want: []string{"1a", "1b", "1c"}, outcome: affinityUnusable},
		{name: "its zone drained", method: "GET", path: "/t/acme/authorize", tag: "t2a",
			o: Overrides{DrainedZones: []string{"west/a"}}, want: []string{"1b", "1c", "2b", "2c"}, outcome: affinityUnusable},
		{name: "its region failed over", method: "GET", path: "/t/acme/authorize", tag: "t1a",
			o: Overrides{Failovers: map[string]string{"west": "east"}}, want: []string{"3b"}, outcome: affinityUnusable},
		{name: "another shard's backend", method: "GET", path: "/t/acme/authorize", tag: "teu", want: westAll, outcome: affinityUnusable},
		{name: "another service's backend", method: "GET", path: "/t/acme/authorize", tag: "ts1", want: westAll, outcome: affinityUnusable},
		{name: "the default pool's backend for a service", method: "GET", path: "/t/acme/saml/sso", tag: "t2a",
			want: []string{"1a", "1b", "1c", "2s"}, outcome: affinityUnusable},
		{name: "unknown tag", method: "GET", path: "/t/acme/authorize", tag: "nobody", want: westAll, outcome: affinityUnknown},
		{name: "no tag", method: "GET", path: "/t/acme/authorize", want: westAll},
		{name: "a retry ignores the tag", method: "GET", path: "/t/acme/authorize", tag: "t1a", tried: []string{"1b"},
			want: []string{"2a", "2c"}},
		{name: "a retry ignores the tag of another cluster", method: "POST", path: "/t/acme/token", tag: "t2a", tried: []string{"2b"},
			want: []string{"1a", "1c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := affinityRouting(t)
			name := func(b *backend) string {
				if b.service != "" {
					return b.cluster[len(b.cluster)-1:] + "s"
				}
				return b.cluster[len(b.cluster)-1:] + b.zone
			}
			byName := map[string]*backend{}
			for _, b := range rt.backends {
				if b.region != "" && b.cluster != "" && b.cluster != "login-e" {
					byName[name(b)] = b
				}
			}
			now := time.Now()
			for _, n := range tt.unusable {
				byName[n].healthy.Store(false)
			}
			for _, n := range tt.ejected {
				byName[n].ejectedUntil.Store(now.Add(time.Minute).UnixNano())
			}
			if tt.poolOut != "" {
				rt.clusters["west/"+tt.poolOut].def.st.ejectedUntil.Store(now.Add(time.Minute).UnixNano())
			}
			for _, n := range tt.failed {
				b := byName[n]
				b.lastFailure.Store(now.UnixNano())
				rt.clusters[b.region+"/"+b.cluster].stats.lastFailure.Store(now.UnixNano())
			}
			var tried []*backend
			for _, n := range tt.tried {
				b := byName[n]
				tried = append(tried, b)
				b.lastFailure.Store(now.UnixNano())
				rt.clusters[b.region+"/"+b.cluster].stats.lastFailure.Store(now.UnixNano())
			}
			target := tt.path
			if tt.tag != "" {
				target += "?id=" + tt.tag + ".AbC"
			}
			r := httptest.NewRequest(tt.method, "http://edge.example"+target, nil)
			rq := routed(t, rt, r)
			rt.tagRequest(rq, r)
			if rq.tag != tt.tag {
				t.Fatalf("tag %q, want %q", rq.tag, tt.tag)
			}
			st := newOpState(tt.o)
			seen := map[string]int{}
			for range rounds {
				got, panicked := pick(rq, st, tried, now)
				if got.b == nil || panicked {
					t.Fatalf("picked %v (panic routing %v)", got.b, panicked)
				}
				seen[name(got.b)]++
				if len(tried) == 0 {
					if oc := affinityOutcome(rq, got); oc != tt.outcome {
						t.Fatalf("outcome %q, want %q", oc, tt.outcome)
					}
				}
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

// TestPickAffinityAfterReload: the tag map is the routing's: a reloaded table that
// moves a tag to another backend sends the tag there.
func TestPickAffinityAfterReload(t *testing.T) {
	old := affinityRouting(t)
	tbl, err := table.Parse([]byte(strings.NewReplacer("zone: a, instance: t1a", "zone: a",
		`9012", zone: b}`, `9012", zone: b, instance: t1a}`).Replace(affinityTable)))
	if err != nil {
		t.Fatal(err)
	}
	rt := buildRouting(tbl, "west", old, func(string) *clusterStats { return &clusterStats{win: newWindow(10e9)} })
	r := httptest.NewRequest("GET", "http://edge.example/t/acme/login?id=t1a.x", nil)
	rq := routed(t, rt, r)
	rt.tagRequest(rq, r)
	st := newOpState(Overrides{})
	for range 20 {
		if got, _ := pick(rq, st, nil, time.Now()); got.b == nil || !strings.HasSuffix(got.b.base, ":9012") {
			t.Fatalf("picked %v, want the backend on :9012", got.b)
		}
	}
}

// affinityTier is an edge in front of one region with two login clusters of two
// backends each, every backend tagged with its name (a1, a2, b1, b2).
type affinityTier struct {
	a1, a2, b1, b2 *fakeBackend
	te             *testEdge
}

func startAffinityTier(t *testing.T) *affinityTier {
	t.Helper()
	k := &affinityTier{a1: newFakeBackend(t, "a1"), a2: newFakeBackend(t, "a2"), b1: newFakeBackend(t, "b1"), b2: newFakeBackend(t, "b2")}
	adm := newFakeBackend(t, "adm")
	tagged := func(bs ...*fakeBackend) string {
		var parts []string
		for i, b := range bs {
			parts = append(parts, fmt.Sprintf("{url: %q, zone: z%d, instance: %s}", b.URL(), i+1, b.name))
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
%s`, backendsYAML(adm), tagged(k.a1, k.a2), tagged(k.b1, k.b2), keyedSettings), edgeOpts{})
	return k
}

// post sends a token request with body through the edge and returns the status and the
// backend that answered.
func (k *affinityTier) post(t *testing.T, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, k.te.public+"/t/acme/token", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	resp, err := k.te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ec echo
	_ = json.Unmarshal(raw, &ec)
	return resp.StatusCode, ec.Backend
}

// TestAffinityThroughEdge: a token POST whose code carries b2's tag lands on b2 every
// time and counts as a hit; one whose tag no backend has lands anywhere and counts as
// unknown; once b2 fails its health check, the tagged POST goes elsewhere and counts as
// unusable; a session cookie with a1's tag takes a GET to a1.
func TestAffinityThroughEdge(t *testing.T) {
	k := startAffinityTier(t)
	const n = 30
	for i := range n {
		status, got := k.post(t, fmt.Sprintf("grant_type=authorization_code&code=b2.code%d&redirect_uri=x", i))
		if status != http.StatusOK || got != "b2" {
			t.Fatalf("POST %d: status %d from %q, want 200 from b2", i, status, got)
		}
	}
	if got := value(t, k.te.metrics.affinity.WithLabelValues(affinityHit)); got != n {
		t.Fatalf("hits counted %v, want %d", got, n)
	}
	for range 5 {
		if status, _ := k.post(t, "grant_type=authorization_code&code=zz.code"); status != http.StatusOK {
			t.Fatalf("untagged POST: status %d", status)
		}
	}
	if got := value(t, k.te.metrics.affinity.WithLabelValues(affinityUnknown)); got != 5 {
		t.Fatalf("unknown tags counted %v, want 5", got)
	}
	for range 5 {
		if status, _ := k.post(t, "grant_type=client_credentials"); status != http.StatusOK {
			t.Fatalf("POST without a tag: status %d", status)
		}
	}
	if got := value(t, k.te.metrics.affinity.WithLabelValues(affinityHit)) + value(t, k.te.metrics.affinity.WithLabelValues(affinityUnknown)) +
		value(t, k.te.metrics.affinity.WithLabelValues(affinityUnusable)); got != n+5 {
		t.Fatalf("affinity counted %v requests, want %d (requests without a tag are not counted)", got, n+5)
	}

	req, _ := http.NewRequest(http.MethodGet, k.te.public+"/t/acme/authorize", nil)
	req.Header.Set("Cookie", "__Host-nines-acme=a1.session")
	for i := range 10 {
		resp, err := k.te.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ec echo
		_ = json.Unmarshal(raw, &ec)
		if ec.Backend != "a1" {
			t.Fatalf("GET %d with a1's session went to %q", i, ec.Backend)
		}
	}

	k.b2.readyDown.Store(true)
	rt := k.te.rt.Load()
	b2 := rt.instances["b2"][0].t.b
	waitFor(t, 5*time.Second, "b2 unhealthy", func() bool { return !b2.healthy.Load() })
	before := k.b2.hits.Load()
	for i := range 10 {
		status, got := k.post(t, fmt.Sprintf("grant_type=authorization_code&code=b2.late%d", i))
		if status != http.StatusOK || got == "b2" || got == "" {
			t.Fatalf("POST %d with b2 down: status %d from %q", i, status, got)
		}
	}
	if k.b2.hits.Load() != before {
		t.Fatal("b2 got requests while unhealthy")
	}
	if got := value(t, k.te.metrics.affinity.WithLabelValues(affinityUnusable)); got != 10 {
		t.Fatalf("unusable counted %v, want 10", got)
	}
}
