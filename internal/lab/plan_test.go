package lab

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/edge/table"
)

// planFor lays out the example file without starting anything: proxies get made-up
// listen addresses.
func planFor(t *testing.T, file string) *plan {
	t.Helper()
	topo, err := LoadTopology(filepath.Join("..", "..", "examples", "lab", file))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	next := 20000
	fake := func(name, upstream string) (string, error) {
		next++
		return fmt.Sprintf("127.0.0.1:%d", next), nil
	}
	var ports portSet
	defer ports.release()
	p, err := buildPlan(topo, dir, "/bin/nines", strings.Repeat("a", 43), strings.Repeat("e", 43), &ports, fake)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// envOf is c's environment as a map.
func envOf(c *component) map[string]string {
	m := map[string]string{}
	for _, kv := range c.env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestPlanEveryConnectionIsProxied: every address a process is given for another
// process (databases, NATS, the edge's backends) is a proxy's listen address, and each
// proxy is labelled with the zone and region of what it leads to.
func TestPlanEveryConnectionIsProxied(t *testing.T) {
	p := planFor(t, "topology.yaml")
	listens := map[string]Proxy{}
	for _, x := range p.proxies {
		if _, dup := listens[x.Listen]; dup {
			t.Fatalf("two proxies listen on %s", x.Listen)
		}
		listens[x.Listen] = x
		to := p.byName[x.Name[strings.LastIndexByte(x.Name, '.')+1:]]
		want := ""
		if to != nil {
			switch to.Kind {
			case KindNATS:
				want = fmt.Sprintf("127.0.0.1:%d", to.natsPort)
			case KindEdge:
				want = fmt.Sprintf("127.0.0.1:%d", to.ctlPort)
			default:
				want = to.addr()
			}
		}
		if to == nil || x.Upstream != want {
			t.Errorf("proxy %s: upstream %s is not its target's address", x.Name, x.Upstream)
			continue
		}
		if x.Zone != to.Zone || x.Region != to.Region {
			t.Errorf("proxy %s labelled %s/%s, leads to %s in %s/%s", x.Name, x.Region, x.Zone, to.Name, to.Region, to.Zone)
		}
	}
	// every host:port in a URL-valued setting must be a proxy from that kind of process
	hosts := func(v string) []string {
		var out []string
		for _, u := range strings.Split(v, ",") {
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatalf("%q: %v", u, err)
			}
			out = append(out, pu.Host)
		}
		return out
	}
	checked := 0
	for _, c := range p.comps {
		if c.Kind == KindPostgres || c.Kind == KindNATS || c.Kind == KindEdge {
			continue
		}
		env := envOf(c)
		for _, k := range []string{"NINES_DATABASE_URL", "NINES_REPLICA_URLS", "NINES_NATS_URL"} {
			if env[k] == "" {
				continue
			}
			for _, h := range hosts(env[k]) {
				x, ok := listens[h]
				if !ok || x.From != c.Kind || x.FromZone != c.Zone {
					t.Errorf("%s %s: %s is not a proxy from a %s in zone %s (%+v)", c.Name, k, h, c.Kind, c.Zone, x)
				}
				checked++
			}
		}
		if c.Kind == KindLogin {
			if _, ok := env["NINES_DATABASE_URL"]; ok {
				t.Errorf("login %s is given the primary", c.Name)
			}
			if got := len(hosts(env["NINES_REPLICA_URLS"])); got != len(p.replicas[c.Region]) {
				t.Errorf("login %s reads %d replicas, its region has %d", c.Name, got, len(p.replicas[c.Region]))
			}
		}
	}
	for _, reps := range p.replicas {
		for _, r := range reps {
			x, ok := listens[r.pg.upstream]
			if !ok || x.To != KindPrimary || x.FromZone != r.Zone {
				t.Errorf("replica %s streams from %s, not a proxy to the primary", r.Name, r.pg.upstream)
			}
		}
	}
	if checked < 12*4 {
		t.Fatalf("checked only %d addresses", checked)
	}
}

// TestPlanEdgeTables: each edge's routing table parses as the edge would parse it, lists
// every login process of every region through a proxy of its own, and the admin tier
// in the primary region only.
func TestPlanEdgeTables(t *testing.T) {
	p := planFor(t, "topology.yaml")
	for _, e := range p.ofKind(KindEdge) {
		tbl, err := table.Load(p.routesPath(e))
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		backends := 0
		for i, r := range tbl.Shards[0].Regions {
			if (r.Admin != nil) != (i == 0) {
				t.Errorf("%s: region %s admin pool %v", e.Name, r.Name, r.Admin)
			}
			for _, c := range r.Clusters {
				for _, b := range c.Backends {
					x := p.proxies[slices.IndexFunc(p.proxies, func(x Proxy) bool { return "http://"+x.Listen == b.URL })]
					if !strings.HasPrefix(x.Name, e.Name+".") || x.Zone != b.Zone || x.To != KindLogin {
						t.Errorf("%s: backend %s is proxy %+v", e.Name, b.URL, x)
					}
					// The backend's instance tag is the tag its process mints with.
					proc := p.comps[slices.IndexFunc(p.comps, func(c *component) bool { return c.Name == b.Instance })]
					if b.Instance == "" || proc.Kind != KindLogin || proc.Zone != b.Zone || envOf(proc)["NINES_INSTANCE_TAG"] != b.Instance {
						t.Errorf("%s: backend %s has instance %q, process env tag %q", e.Name, b.URL, b.Instance,
							envOf(proc)["NINES_INSTANCE_TAG"])
					}
					backends++
				}
			}
		}
		if backends != 12 {
			t.Errorf("%s routes to %d login processes, want 12", e.Name, backends)
		}
	}
	if n := len(p.proxies); n < 60 || n > 80 {
		t.Errorf("%d proxies for the default topology", n)
	}
	t.Logf("default topology: %d processes, %d proxies", len(p.comps), len(p.proxies))
}

// TestPlanOnePublicURL: every login process of every region, the admin tier and every
// edge have the same NINES_PUBLIC_URL, the primary region's edge address (so that it
// can be dialled as it is), and the edges still listen on addresses of their own.
func TestPlanOnePublicURL(t *testing.T) {
	p := planFor(t, "topology.yaml")
	prim := p.edges[p.topo.Primary().Name]
	want := "http://" + prim.addr()
	if got := p.publicURL(); got != want {
		t.Fatalf("public URL %q, want the primary edge's address %q", got, want)
	}
	loginRegions := map[string]int{}
	checked := 0
	for _, c := range p.comps {
		if c.Kind != KindLogin && c.Kind != KindAdmin && c.Kind != KindEdge {
			continue
		}
		if got := envOf(c)["NINES_PUBLIC_URL"]; got != want {
			t.Errorf("%s (%s, region %s): NINES_PUBLIC_URL %q, want %q", c.Name, c.Kind, c.Region, got, want)
		}
		if c.Kind == KindLogin {
			loginRegions[c.Region]++
		}
		checked++
	}
	if len(loginRegions) < 2 || checked < 12+1+2 {
		t.Fatalf("checked %d processes, login processes in regions %v; want both regions' 12 login processes, the admin and 2 edges",
			checked, loginRegions)
	}
	addrs := map[string]bool{}
	for _, e := range p.ofKind(KindEdge) {
		if e.edgeURL != "http://"+e.addr() || addrs[e.edgeURL] {
			t.Errorf("%s: edge URL %q, not its own address %s", e.Name, e.edgeURL, e.addr())
		}
		addrs[e.edgeURL] = true
	}
}

// TestStateOneIssuer: the state of a two-region lab names one issuer for every region
// (the public URL's), and each region's own edge.
func TestStateOneIssuer(t *testing.T) {
	st := stateFor(t, "topology.yaml")
	if len(st.Regions) != 2 {
		t.Fatalf("%d regions, want 2", len(st.Regions))
	}
	if st.PublicURL == "" || st.PublicURL != st.Regions[0].EdgeURL || !st.Regions[0].Primary {
		t.Errorf("public URL %q, want the primary region's edge %q", st.PublicURL, st.Regions[0].EdgeURL)
	}
	want := st.PublicURL + "/t/" + st.Tenant
	for _, r := range st.Regions {
		if r.Issuer != want {
			t.Errorf("region %s: issuer %q, want %q", r.Name, r.Issuer, want)
		}
	}
	if st.Regions[0].EdgeURL == st.Regions[1].EdgeURL || st.Regions[1].EdgeURL == "" {
		t.Errorf("edge URLs %q and %q: want one per region", st.Regions[0].EdgeURL, st.Regions[1].EdgeURL)
	}
	if st.AdminURL != st.PublicURL {
		t.Errorf("admin URL %q, want the public URL %q", st.AdminURL, st.PublicURL)
	}
	// The summary names the issuer once, and each region's edge.
	var out strings.Builder
	PrintSummary(&out, st)
	if n := strings.Count(out.String(), want); n != 1 {
		t.Errorf("the summary names the issuer %d times, want once:\n%s", n, out.String())
	}
	for _, r := range st.Regions {
		if !strings.Contains(out.String(), "region "+r.Name+" ") || !strings.Contains(out.String(), "edge "+r.EdgeURL+" ") {
			t.Errorf("the summary does not name region %s's edge %s:\n%s", r.Name, r.EdgeURL, out.String())
		}
	}
}

func TestPortSetPortsAreDistinct(t *testing.T) {
	var ps portSet
	defer ps.release()
	seen := map[int]bool{}
	for range 50 {
		n, err := ps.take()
		if err != nil {
			t.Fatal(err)
		}
		if seen[n] {
			t.Fatalf("port %d handed out twice", n)
		}
		seen[n] = true
	}
	ps.release()
	for n := range seen { // released: bindable again
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", n))
		if err == nil {
			l.Close()
			return
		}
	}
	t.Fatal("no released port could be bound")
}
