package edge

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/edge/table"
)

const classifyTable = `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9000", zone: a}]}
        clusters:
          - {name: login-a, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9001", zone: a}]}
  - name: eu
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9100", zone: a}]}
        clusters:
          - {name: login-e, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9101", zone: a}]}
tenants:
  default_shard: us
  shards: {globex: eu}
  channels: {acme: fast}
hosts:
  login.acme.example: acme
`

func TestClassify(t *testing.T) {
	tbl, err := table.Parse([]byte(classifyTable))
	if err != nil {
		t.Fatal(err)
	}
	rt := buildRouting(tbl, "west", nil, func(string) *clusterStats { return &clusterStats{win: newWindow(10e9)} })
	tests := []struct {
		name, method, host, path string
		wantOK                   bool
		tier                     tier
		tenant, shard, channel   string
		service, outPath         string
		idempotent               bool
	}{
		{name: "discovery", path: "/t/acme/.well-known/openid-configuration", wantOK: true, tier: tierLogin, tenant: "acme", shard: "us",
			channel: "fast", service: table.ServiceOIDC, outPath: "/t/acme/.well-known/openid-configuration", idempotent: true},
		{name: "token is oidc, post", method: "POST", path: "/t/globex/token", wantOK: true, tier: tierLogin, tenant: "globex",
			shard: "eu", channel: "stable", service: table.ServiceOIDC, outPath: "/t/globex/token"},
		{name: "hosted login page", path: "/t/acme/login", wantOK: true, tier: tierLogin, tenant: "acme", shard: "us", channel: "fast",
			service: table.ServiceDefault, outPath: "/t/acme/login", idempotent: true},
		{name: "saml", method: "POST", path: "/t/acme/saml/sso", wantOK: true, tier: tierLogin, tenant: "acme", shard: "us",
			channel: "fast", service: table.ServiceSAML, outPath: "/t/acme/saml/sso"},
		{name: "device page", path: "/t/acme/device", wantOK: true, tier: tierLogin, tenant: "acme", shard: "us", channel: "fast",
			service: table.ServiceDevice, outPath: "/t/acme/device", idempotent: true},
		{name: "unknown tenant goes to the default shard", path: "/t/initech/authorize", wantOK: true, tier: tierLogin,
			tenant: "initech", shard: "us", channel: "stable", outPath: "/t/initech/authorize", idempotent: true},
		{name: "admin global", method: "POST", path: "/admin/v1/tenants", wantOK: true, tier: tierAdmin, shard: "us",
			channel: "stable", outPath: "/admin/v1/tenants"},
		{name: "admin of a tenant in another shard", path: "/admin/v1/tenants/globex/users", wantOK: true, tier: tierAdmin,
			tenant: "globex", shard: "eu", channel: "stable", outPath: "/admin/v1/tenants/globex/users", idempotent: true},
		{name: "scim under the tenant", method: "PATCH", path: "/t/globex/scim/v2/Users/1", wantOK: true, tier: tierAdmin,
			tenant: "globex", shard: "eu", channel: "stable", outPath: "/t/globex/scim/v2/Users/1"},
		{name: "scim root", path: "/scim/v2/Users", wantOK: true, tier: tierAdmin, shard: "us", channel: "stable",
			outPath: "/scim/v2/Users", idempotent: true},
		{name: "custom host bare path", host: "Login.Acme.Example:443", path: "/.well-known/openid-configuration", wantOK: true,
			tier: tierLogin, tenant: "acme", shard: "us", channel: "fast", service: table.ServiceOIDC,
			outPath: "/t/acme/.well-known/openid-configuration", idempotent: true},
		{name: "custom host own tenant path", host: "login.acme.example", path: "/t/acme/authorize", wantOK: true, tier: tierLogin,
			tenant: "acme", shard: "us", channel: "fast", outPath: "/t/acme/authorize", idempotent: true},
		{name: "custom host other tenant", host: "login.acme.example", path: "/t/globex/authorize"},
		{name: "root", path: "/"},
		{name: "unknown path", path: "/metrics"},
		{name: "health of a backend is not public", path: "/readyz"},
		{name: "bad slug", path: "/t/Acme/authorize"},
		{name: "empty slug", path: "/t//authorize"},
		{name: "dot dot", path: "/t/acme/../admin/v1/tenants"},
		{name: "idempotency key does not make a post retryable", method: "POST", path: "/t/acme/token", wantOK: true, tier: tierLogin,
			tenant: "acme", shard: "us", channel: "fast", service: table.ServiceOIDC, outPath: "/t/acme/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.method == "" {
				tt.method = http.MethodGet
			}
			r := httptest.NewRequest(tt.method, "http://edge.example"+tt.path, nil)
			r.URL.Path = tt.path // keep dot segments as a raw client could send them
			if tt.host != "" {
				r.Host = tt.host
			}
			if strings.HasPrefix(tt.name, "idempotency key") {
				r.Header.Set("Idempotency-Key", "k1")
			}
			rq, ok := rt.classify(r)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			got := []any{rq.tier, rq.tenant, rq.shard.name, rq.channel, rq.service, rq.path, rq.idempotent}
			want := []any{tt.tier, tt.tenant, tt.shard, tt.channel, tt.service, tt.outPath, tt.idempotent}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		})
	}
}

func TestEffectiveOrder(t *testing.T) {
	raw := strings.Replace(classifyTable, "tenants:", `      - name: east
        clusters:
          - {name: login-x, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9201", zone: a}]}
      - name: south
        clusters:
          - {name: login-y, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9301", zone: a}]}
tenants:`, 1)
	tbl, err := table.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	rt := buildRouting(tbl, "east", nil, func(string) *clusterStats { return &clusterStats{win: newWindow(10e9)} })
	names := func(rs []*region) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.name)
		}
		return strings.Join(out, ",")
	}
	eu := rt.shards["eu"]
	for _, tt := range []struct {
		failovers map[string]string
		want      string
	}{
		{nil, "east,west,south"},
		{map[string]string{"east": "south"}, "south,west"},
		{map[string]string{"east": "west", "west": "south"}, "south"},
	} {
		if got := names(effectiveOrder(eu, tt.failovers)); got != tt.want {
			t.Errorf("failovers %v: order %s, want %s", tt.failovers, got, tt.want)
		}
	}
	if got := names(rt.shards["us"].order); got != "west" {
		t.Errorf("us order from an edge outside its regions: %s", got)
	}
}

func TestForwardedValue(t *testing.T) {
	for _, tt := range []struct{ client, host, proto, want string }{
		{"192.0.2.1", "idp.example", "https", `for=192.0.2.1;host="idp.example";proto=https`},
		{"2001:db8::1", "idp.example:8443", "http", `for="[2001:db8::1]";host="idp.example:8443";proto=http`},
		{"192.0.2.1", `evil"host`, "http", `for=192.0.2.1;host="evil\"host";proto=http`},
	} {
		if got := forwarded(tt.client, tt.host, tt.proto); got != tt.want {
			t.Errorf("forwarded(%q, %q) = %s, want %s", tt.client, tt.host, got, tt.want)
		}
	}
}

// problemOf decodes a problem+json body.
func problemOf(t testing.TB, raw []byte) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal(raw, &p); err != nil || p.Type == "" || p.Status == 0 {
		t.Fatalf("not a problem: %s", raw)
	}
	return p
}

// FuzzClassify: no path or host makes classify panic, and what it routes keeps a
// well-formed outbound path that stays within the tenant it names.
func FuzzClassify(f *testing.F) {
	tbl, err := table.Parse([]byte(classifyTable))
	if err != nil {
		f.Fatal(err)
	}
	rt := buildRouting(tbl, "west", nil, func(string) *clusterStats { return &clusterStats{win: newWindow(10e9)} })
	for _, s := range []string{"/t/acme/token", "/admin/v1/tenants/globex/users", "/scim/v2/Users", "/t//x", "/", "/t/acme/../x"} {
		f.Add(s, "login.acme.example")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, path, host string) {
		r := httptest.NewRequest(http.MethodGet, "http://edge.example/", nil)
		r.URL.Path, r.Host = path, host
		rq, ok := rt.classify(r)
		if !ok {
			return
		}
		if !strings.HasPrefix(rq.path, "/") || rq.shard == nil {
			t.Fatalf("routed %q on %q to path %q", path, host, rq.path)
		}
		if rq.tier == tierLogin && !strings.HasPrefix(rq.path, "/t/"+rq.tenant) {
			t.Fatalf("login path %q for tenant %q", rq.path, rq.tenant)
		}
	})
}
