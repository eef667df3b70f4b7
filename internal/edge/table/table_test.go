package table

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9000", zone: a}]}
        clusters:
          - name: login-a
            capacity_rps: 100
            backends: [{url: "http://127.0.0.1:9001", zone: a}]
          - name: login-b
            capacity_rps: 100
            backends: [{url: "http://127.0.0.1:9002/", zone: b}]
tenants:
  default_shard: us
`

func TestParseMinimalFillsDefaults(t *testing.T) {
	tb, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Tenants.DefaultChannel; got != ChannelStable {
		t.Errorf("default channel %q", got)
	}
	if got := tb.Shards[0].Regions[0].Clusters[0].EffectiveWeight(); got != DefaultWeight {
		t.Errorf("weight %d", got)
	}
	if tb.Routes.Login.TryTimeout.D() != DefaultLoginTry || tb.Routes.Admin.MaxBodyBytes != DefaultAdminMaxBody {
		t.Errorf("routes %+v", tb.Routes)
	}
	if tb.Health.Interval.D() != time.Second || tb.Outlier.Consecutive != DefaultConsecutive || tb.Retry.BudgetRatio != DefaultBudgetRatio {
		t.Errorf("settings %+v %+v %+v", tb.Health, tb.Outlier, tb.Retry)
	}
	if p := tb.Shards[0].Primary(); p == nil || p.Name != "west" {
		t.Errorf("primary %+v", p)
	}
}

func TestExampleFileParses(t *testing.T) {
	tb, err := Load(filepath.Join("..", "..", "..", "examples", "edge", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Shards[0].Regions) != 2 || tb.Hosts["login.acme.example"] != "acme" {
		t.Fatalf("unexpected example table: %+v", tb)
	}
	if got := tb.Shards[0].Regions[0].Clusters[1].Services[ServiceSAML].Backends; len(got) != 2 {
		t.Fatalf("saml backends %v", got)
	}
	if got := tb.Shards[0].Regions[0].Clusters[0].Backends[0].Instance; got != "login-a-usw-a" {
		t.Fatalf("instance of the first backend %q", got)
	}
}

// TestParseInstance: a login backend's instance tag is read; the listings of one process
// in its cluster's default and service backends may repeat it.
func TestParseInstance(t *testing.T) {
	raw := strings.Replace(minimal, `[{url: "http://127.0.0.1:9001", zone: a}]`,
		`[{url: "http://127.0.0.1:9001", zone: a, instance: login-a-1}]
            services: {saml: {backends: [{url: "http://127.0.0.1:9001/", zone: a, instance: login-a-1}]}}`, 1)
	raw = strings.Replace(raw, `[{url: "http://127.0.0.1:9002/", zone: b}]`, `[{url: "http://127.0.0.1:9002/", zone: b, instance: "0b"}]`, 1)
	tb, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	cs := tb.Shards[0].Regions[0].Clusters
	if cs[0].Backends[0].Instance != "login-a-1" || cs[0].Services[ServiceSAML].Backends[0].Instance != "login-a-1" ||
		cs[1].Backends[0].Instance != "0b" {
		t.Fatalf("instances not read: %+v", cs)
	}
	if tb.Shards[0].Regions[0].Admin.Backends[0].Instance != "" {
		t.Fatal("admin backend has an instance")
	}
}

func TestParseRejects(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(minimal, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(minimal, old, new, 1)
	}
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{name: "empty", raw: "  \n# nothing\n", want: []string{"the file is empty"}},
		{name: "only comments", raw: "# nothing\n", want: []string{"the file is empty"}},
		{name: "unknown field", raw: replace("capacity_rps: 100\n            backends: [{url: \"http://127.0.0.1:9001\"", "capacty_rps: 100\n            backends: [{url: \"http://127.0.0.1:9001\""),
			want: []string{"invalid YAML", "capacty_rps"}},
		{name: "duplicate key", raw: replace("default_shard: us", "default_shard: us\n  default_shard: eu"), want: []string{"invalid YAML"}},
		{name: "wrong type", raw: replace("capacity_rps: 100\n            backends: [{url: \"http://127.0.0.1:9001\"", "capacity_rps: lots\n            backends: [{url: \"http://127.0.0.1:9001\""),
			want: []string{"invalid YAML"}},
		{name: "bad duration", raw: minimal + "health: {interval: soon}\n", want: []string{"not a duration"}},
		{name: "no primary", raw: replace("primary: true", "primary: false"), want: []string{"exactly one region must be primary (found 0)", "only the primary region runs the admin tier"}},
		{name: "two primaries", raw: replace("tenants:", `      - name: east
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9100", zone: a}]}
        clusters:
          - {name: login-c, capacity_rps: 1, backends: [{url: "http://127.0.0.1:9101", zone: a}]}
tenants:`), want: []string{"exactly one region must be primary (found 2)"}},
		{name: "primary without admin", raw: replace(`        admin: {backends: [{url: "http://127.0.0.1:9000", zone: a}]}`+"\n", ""),
			want: []string{"shards[0].regions[0].admin: the primary region serves the admin tier"}},
		{name: "bad backend url", raw: replace("http://127.0.0.1:9001", "ftp://x/y"), want: []string{"clusters[0].backends[0].url", "http:// or https://"}},
		{name: "url with path", raw: replace("http://127.0.0.1:9001", "http://127.0.0.1:9001/login"), want: []string{"base URL"}},
		{name: "url with credentials", raw: replace("http://127.0.0.1:9001", "http://u:p@127.0.0.1:9001"), want: []string{"user information"}},
		{name: "backend in two clusters", raw: replace("http://127.0.0.1:9002/", "http://127.0.0.1:9001"), want: []string{"is also in cluster west/login-a"}},
		{name: "duplicate backend", raw: replace(`[{url: "http://127.0.0.1:9001", zone: a}]`, `[{url: "http://127.0.0.1:9001", zone: a}, {url: "http://127.0.0.1:9001/", zone: b}]`), want: nil},
		{name: "missing zone", raw: replace("zone: b", "zone: \"\""), want: []string{"availability zone"}},
		{name: "no capacity", raw: replace("capacity_rps: 100", "capacity_rps: 0"), want: []string{"capacity_rps"}},
		{name: "weight too big", raw: replace("capacity_rps: 100", "capacity_rps: 100\n            weight: 5000"), want: []string{"weight: must be from 0 to 1000"}},
		{name: "duplicate cluster", raw: replace("name: login-b", "name: login-a"), want: []string{"cluster names are unique in a region"}},
		{name: "bad channel", raw: replace("capacity_rps: 100", "capacity_rps: 100\n            channels: [beta]"), want: []string{`"beta" is not a release channel`}},
		{name: "unknown service", raw: replace("capacity_rps: 100", "capacity_rps: 100\n            services: {scim: {backends: [{url: \"http://127.0.0.1:9003\", zone: a}]}}"),
			want: []string{`"scim" is not a service`}},
		{name: "unknown default shard", raw: replace("default_shard: us", "default_shard: eu"), want: []string{`tenants.default_shard: "eu" is not a shard`}},
		{name: "tenant to unknown shard", raw: minimal + "  shards: {acme: eu}\n", want: []string{`tenants.shards.acme: "eu" is not a shard`}},
		{name: "bad tenant slug", raw: minimal + "  channels: {Acme: fast}\n", want: []string{`"Acme" is not a tenant slug`}},
		{name: "channel nobody serves", raw: strings.ReplaceAll(minimal, "capacity_rps: 100", "capacity_rps: 100\n            channels: [stable]") + "  channels: {acme: fast}\n",
			want: []string{`tenants.channels.acme: no login cluster of shard "us" serves channel "fast"`}},
		{name: "failover to unknown region", raw: replace("primary: true", "primary: true\n        failover: [mars]"), want: []string{`"mars" is not a region of shard "us"`}},
		{name: "failover to itself", raw: replace("primary: true", "primary: true\n        failover: [west]"), want: []string{"does not fail over to itself"}},
		{name: "bad host", raw: minimal + "hosts: {\"Login.Example:443\": acme}\n", want: []string{"not a lower-case host name"}},
		{name: "try above timeout", raw: minimal + "routes: {login: {timeout: 1s, try_timeout: 2s}}\n", want: []string{"routes.login.try_timeout"}},
		{name: "bad error rate", raw: minimal + "outlier: {error_rate: 1.5}\n", want: []string{"outlier.error_rate"}},
		{name: "bad budget", raw: minimal + "retry: {budget_ratio: -1}\n", want: []string{"retry.budget_ratio"}},
		{name: "instance upper case", raw: replace("zone: b}", "zone: b, instance: Login-B}"),
			want: []string{`shards[0].regions[0].clusters[1].backends[0].instance: "Login-B" is not an instance tag`}},
		{name: "instance leading dash", raw: replace("zone: b}", "zone: b, instance: -b}"), want: []string{`"-b" is not an instance tag`}},
		{name: "instance with a dot", raw: replace("zone: b}", "zone: b, instance: b.1}"), want: []string{`"b.1" is not an instance tag`}},
		{name: "instance too long", raw: replace("zone: b}", "zone: b, instance: "+strings.Repeat("b", 33)+"}"), want: []string{"is not an instance tag"}},
		{name: "duplicate instance across clusters", raw: strings.NewReplacer(`9001", zone: a}`, `9001", zone: a, instance: n1}`,
			`zone: b}`, `zone: b, instance: n1}`).Replace(minimal),
			want: []string{`shards[0].regions[0].clusters[1].backends[0].instance: instance "n1" is also the tag of backend http://127.0.0.1:9001 at shards[0].regions[0].clusters[0].backends[0]`}},
		{name: "duplicate instance across shards", raw: strings.NewReplacer(`9001", zone: a}`, `9001", zone: a, instance: n1}`, "tenants:", `  - name: eu
    regions:
      - name: east
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9100", zone: a}]}
        clusters:
          - {name: login-e, capacity_rps: 1, backends: [{url: "http://127.0.0.1:9101", zone: a, instance: n1}]}
tenants:`).Replace(minimal),
			want: []string{`shards[1].regions[0].clusters[0].backends[0].instance: instance "n1" is also the tag of backend http://127.0.0.1:9001`}},
		{name: "admin instance", raw: replace(`{backends: [{url: "http://127.0.0.1:9000", zone: a}]}`, `{backends: [{url: "http://127.0.0.1:9000", zone: a, instance: adm}]}`),
			want: []string{"shards[0].regions[0].admin.backends[0].instance: only login backends take an instance tag"}},
		{name: "one process, two instances", raw: replace(`[{url: "http://127.0.0.1:9001", zone: a}]`,
			`[{url: "http://127.0.0.1:9001", zone: a, instance: n1}]
            services: {oidc: {backends: [{url: "http://127.0.0.1:9001", zone: a, instance: n2}]}}`),
			want: []string{`shards[0].regions[0].clusters[0].services.oidc.backends[0].instance: backend http://127.0.0.1:9001 names instance "n2" here and "n1" at shards[0].regions[0].clusters[0].backends[0]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.raw))
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *Error", err)
			}
			msg := err.Error()
			if tt.want == nil {
				tt.want = []string{"listed twice"}
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	raw := strings.NewReplacer("capacity_rps: 100", "capacity_rps: 0", "zone: b", "zone: B_").Replace(minimal)
	_, err := Parse([]byte(raw))
	var te *Error
	if !errors.As(err, &te) || len(te.Problems) < 3 {
		t.Fatalf("want at least 3 problems, got %v", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(p, []byte("shards: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Fatalf("err = %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "cannot read the file") {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("shards: [{name: x}]"))
	f.Add([]byte("tenants: {default_shard: 1}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tb, err := Parse(raw)
		if err == nil && (len(tb.Shards) == 0 || tb.Tenants.DefaultShard == "") {
			t.Fatalf("accepted a table without shards or default shard")
		}
	})
}
