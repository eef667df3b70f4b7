package lab

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Process kinds (Process.Kind, Proxy.From and Proxy.To).
const (
	KindLogin    = "login"
	KindAdmin    = "admin"
	KindWorker   = "worker"
	KindNATS     = "nats"
	KindEdge     = "edge"
	KindPostgres = "postgres"
	// KindReplica and KindPrimary name PostgreSQL servers in Proxy.From and Proxy.To
	// (their Process.Kind is KindPostgres).
	KindReplica = "replica"
	KindPrimary = "primary"
)

// Start tiers: a lab starts tier by tier and stops in the reverse order.
const (
	tierPostgres = iota
	tierNATS
	tierWorker
	tierLogin
	tierAdmin
	tierEdge
	tiers
)

// component is one process of the lab: its State entry, how to run it and which
// proxies lead to it.
type component struct {
	Process
	tier int
	port int // its main port: HTTP, or the database port
	// ctlPort and natsPorts are an edge's control port and a NATS member's client and
	// route ports.
	ctlPort             int
	natsPort, routePort int
	ready               string // readiness URL ("" for PostgreSQL)
	env                 func() []string
	args                []string
	movable             bool // may move to another port if it lost its own (only proxies name it)
	pg                  *pgNode
	child               *child
	expectedStop        bool // stopped through the control API: not a crash
	loggedRuns          int  // the run whose exit was logged
	// edgeURL and edgeCtlURL are an edge's own address (http://127.0.0.1:port, where
	// its region's users reach it) and its control API's.
	edgeURL, edgeCtlURL string
}

func (c *component) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// portSet holds free loopback ports until released, so that the ports of one lab never
// collide and proxies (on port 0) never get one of them.
type portSet struct{ held []net.Listener }

func (p *portSet) take() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("lab: free port: %w", err)
	}
	p.held = append(p.held, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *portSet) release() {
	for _, l := range p.held {
		l.Close()
	}
	p.held = nil
}

// plan is the lab's layout: every component and proxy, with the addresses they use. It
// is built before anything starts.
type plan struct {
	topo    Topology
	dir     string
	bin     string
	comps   []*component
	byName  map[string]*component
	proxies []Proxy
	// proxiesTo maps an upstream address to the proxies leading there, for a component
	// that moves to another port.
	proxiesTo map[string][]string
	addProxy  func(name, upstream string) (string, error)

	primary  *component
	replicas map[string][]*component // by region
	nats     []*component
	edges    map[string]*component // by region
	callback int                   // the OIDC client's redirect port (never served)

	adminToken, edgeToken string // NINES_BOOTSTRAP_ADMIN_TOKEN, NINES_EDGE_CONTROL_TOKEN
}

func (p *plan) logPath(name string) string  { return filepath.Join(p.dir, "logs", name+".log") }
func (p *plan) dataPath(name string) string { return filepath.Join(p.dir, "data", name) }

func (p *plan) add(c *component) *component {
	c.Log = p.logPath(c.Name)
	p.comps = append(p.comps, c)
	p.byName[c.Name] = c
	return c
}

// proxy returns the listen address of the proxy from a caller (a process name, or
// kind-zone for the processes of a zone sharing it) to the component to, creating it on
// first use.
func (p *plan) proxy(caller, fromKind, fromRegion, fromZone string, to *component, toKind string, toPort int) (string, error) {
	name := caller + "." + to.Name
	for _, x := range p.proxies {
		if x.Name == name {
			return x.Listen, nil
		}
	}
	upstream := net.JoinHostPort("127.0.0.1", strconv.Itoa(toPort))
	listen, err := p.addProxy(name, upstream)
	if err != nil {
		return "", err
	}
	p.proxies = append(p.proxies, Proxy{Name: name, Zone: to.Zone, Region: to.Region, From: fromKind, To: toKind,
		FromZone: fromZone, FromRegion: fromRegion, Listen: listen, Upstream: upstream})
	p.proxiesTo[upstream] = append(p.proxiesTo[upstream], name)
	return listen, nil
}

// zoneOf spreads the i-th process over zones.
func zoneOf(zones []string, i int) string { return zones[i%len(zones)] }

// buildPlan lays the topology out: names, zones and ports of every component, every
// proxy (created through addProxy) and every environment. ports stays held until the
// caller releases it, after the proxies exist.
func buildPlan(topo Topology, dir, bin, adminToken, edgeToken string, ports *portSet,
	addProxy func(name, upstream string) (string, error)) (*plan, error) {
	p := &plan{topo: topo, dir: dir, bin: bin, byName: map[string]*component{}, proxiesTo: map[string][]string{},
		addProxy: addProxy, replicas: map[string][]*component{}, edges: map[string]*component{},
		adminToken: adminToken, edgeToken: edgeToken}
	take := func() int {
		n, err := ports.take()
		if err != nil {
			panic(err) // recovered below: the loopback interface is out of ports
		}
		return n
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		p.layout(take)
	}()
	if err != nil {
		return nil, err
	}
	if err := p.wire(); err != nil {
		return nil, err
	}
	return p, nil
}

// layout names every component and gives it its ports.
func (p *plan) layout(take func() int) {
	prim := p.topo.Primary()
	pz := prim.Zones[0]
	p.primary = p.add(&component{Process: Process{Name: "pg-primary", Kind: KindPostgres, Region: prim.Name, Zone: pz},
		tier: tierPostgres, port: take(), movable: true})
	for _, r := range p.topo.Regions {
		for i := range r.Replicas {
			c := p.add(&component{Process: Process{Name: fmt.Sprintf("pg-%s-%d", r.Name, i+1), Kind: KindPostgres,
				Region: r.Name, Zone: zoneOf(r.Zones, i)}, tier: tierPostgres, port: take(), movable: true})
			p.replicas[r.Name] = append(p.replicas[r.Name], c)
		}
	}
	for i := range p.topo.NATS {
		c := p.add(&component{Process: Process{Name: fmt.Sprintf("nats-%d", i+1), Kind: KindNATS, Region: prim.Name,
			Zone: zoneOf(prim.Zones, i)}, tier: tierNATS, port: take(), natsPort: take(), routePort: take()})
		p.nats = append(p.nats, c)
	}
	for i := range p.topo.Workers {
		p.add(&component{Process: Process{Name: fmt.Sprintf("worker-%d", i+1), Kind: KindWorker, Region: prim.Name,
			Zone: zoneOf(prim.Zones, i)}, tier: tierWorker, port: take(), movable: true})
	}
	for _, r := range p.topo.Regions {
		for _, cl := range r.Clusters {
			for _, z := range r.Zones {
				p.add(&component{Process: Process{Name: cl.Name + "-" + z, Kind: KindLogin, Region: r.Name,
					Cluster: cl.Name, Zone: z}, tier: tierLogin, port: take(), movable: true})
			}
		}
	}
	for i := range p.topo.Admins {
		p.add(&component{Process: Process{Name: fmt.Sprintf("admin-%d", i+1), Kind: KindAdmin, Region: prim.Name,
			Zone: zoneOf(prim.Zones, i)}, tier: tierAdmin, port: take(), movable: true})
	}
	for _, r := range p.topo.Regions {
		c := p.add(&component{Process: Process{Name: "edge-" + r.Name, Kind: KindEdge, Region: r.Name},
			tier: tierEdge, port: take(), ctlPort: take()})
		c.edgeURL = "http://" + c.addr()
		c.edgeCtlURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ctlPort))
		p.edges[r.Name] = c
	}
	p.callback = take()
}

// publicURL is the lab's one public base URL, the same for every region as a public
// host name served by GeoDNS or anycast would be: the primary region's edge address, so
// that a plain client (curl, a browser) that dials what the URL says reaches the lab.
// Every login, admin and edge process has it as NINES_PUBLIC_URL, so each region's
// login tier names the same issuer ({publicURL}/t/{tenant}); the load of a region
// dials that region's edge for it (Target.Dial).
func (p *plan) publicURL() string { return p.edges[p.topo.Primary().Name].edgeURL }

// ofKind lists the components of a kind, in start order.
func (p *plan) ofKind(kind string) []*component {
	var out []*component
	for _, c := range p.comps {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// natsURLs are the NATS members' client URLs through the proxies of a caller.
func (p *plan) natsURLs(caller, kind, region, zone string) (string, error) {
	var urls []string
	for _, m := range p.nats {
		l, err := p.proxy(caller, kind, region, zone, m, KindNATS, m.natsPort)
		if err != nil {
			return "", err
		}
		urls = append(urls, "nats://"+l)
	}
	return strings.Join(urls, ","), nil
}

// dbURL is the PostgreSQL URL of db through a caller's proxy.
func (p *plan) dbURL(caller, kind, region, zone string, db *component) (string, error) {
	to := KindReplica
	if db == p.primary {
		to = KindPrimary
	}
	l, err := p.proxy(caller, kind, region, zone, db, to, db.port)
	if err != nil {
		return "", err
	}
	return "postgres://postgres@" + l + "/" + pgDatabase + "?sslmode=disable", nil
}

func (p *plan) replicaURLs(caller, kind, region, zone string, reps []*component) (string, error) {
	var urls []string
	for _, r := range reps {
		u, err := p.dbURL(caller, kind, region, zone, r)
		if err != nil {
			return "", err
		}
		urls = append(urls, u)
	}
	return strings.Join(urls, ","), nil
}

// baseEnv is every nines process's environment before its own settings. NINESLAB_DIR
// marks the process as this lab's (cleanup checks it before it signals a PID).
func (p *plan) baseEnv(c *component) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"TZ=UTC",
		labEnv + "=" + p.dir,
		"NINES_LOG_LEVEL=" + p.topo.LogLevel,
		"NINES_DATA_DIR=" + p.dataPath(c.Name),
		"NINES_SHUTDOWN_TIMEOUT=5s",
		"NINES_REGION=" + c.Region,
		"NINES_ZONE=" + c.Zone,
	}
}

// labEnv is the environment variable that names the lab directory in every process the
// lab starts (not NINES_…: nines refuses unknown settings of its own prefix).
const labEnv = "NINESLAB_DIR"

// kekFile is the key-encryption key every nines process of the lab shares.
func (p *plan) kekFile() string { return filepath.Join(p.dir, "kek") }

// wire creates the proxies and the environments. Every component-to-component
// connection goes through a proxy, except the NATS members' routes to each other
// (they gossip their direct addresses anyway).
func (p *plan) wire() error {
	public := p.publicURL()
	for _, reps := range p.replicas {
		for _, r := range reps {
			l, err := p.proxy(r.Name, KindReplica, r.Region, r.Zone, p.primary, KindPrimary, p.primary.port)
			if err != nil {
				return err
			}
			r.pg = &pgNode{name: r.Name, region: r.Region, zone: r.Zone, dataDir: filepath.Join(p.dir, "pg", r.Name), upstream: l}
		}
	}
	p.primary.pg = &pgNode{name: p.primary.Name, region: p.primary.Region, zone: p.primary.Zone, primary: true,
		dataDir: filepath.Join(p.dir, "pg", p.primary.Name)}

	var routes []string
	for _, m := range p.nats {
		routes = append(routes, net.JoinHostPort("127.0.0.1", strconv.Itoa(m.routePort)))
	}
	for _, m := range p.nats {
		m.ready = "http://" + m.addr() + "/readyz"
		m.args = []string{"serve", "--role=nats"}
		m.env = func() []string {
			return append(p.baseEnv(m),
				"NINES_HTTP_ADDR="+m.addr(),
				"NINES_NATS_NAME="+m.Name,
				"NINES_NATS_LISTEN="+net.JoinHostPort("127.0.0.1", strconv.Itoa(m.natsPort)),
				"NINES_NATS_CLUSTER_LISTEN="+net.JoinHostPort("127.0.0.1", strconv.Itoa(m.routePort)),
				"NINES_NATS_ROUTES="+strings.Join(routes, ","))
		}
	}
	for _, w := range p.ofKind(KindWorker) {
		caller := "worker-" + w.Zone
		db, err := p.dbURL(caller, KindWorker, w.Region, w.Zone, p.primary)
		if err != nil {
			return err
		}
		nats, err := p.natsURLs(caller, KindWorker, w.Region, w.Zone)
		if err != nil {
			return err
		}
		w.ready = "http://" + w.addr() + "/readyz"
		w.args = []string{"serve", "--role=worker"}
		w.env = func() []string {
			return append(p.baseEnv(w), "NINES_HTTP_ADDR="+w.addr(), "NINES_DATABASE_URL="+db, "NINES_NATS_URL="+nats,
				"NINES_KEK_FILE="+p.kekFile())
		}
	}
	for _, l := range p.ofKind(KindLogin) {
		caller := "login-" + l.Zone
		reps, err := p.replicaURLs(caller, KindLogin, l.Region, l.Zone, p.replicas[l.Region])
		if err != nil {
			return err
		}
		nats, err := p.natsURLs(caller, KindLogin, l.Region, l.Zone)
		if err != nil {
			return err
		}
		l.ready = "http://" + l.addr() + "/readyz"
		l.args = []string{"serve", "--role=login"}
		l.env = func() []string {
			return append(p.baseEnv(l), "NINES_HTTP_ADDR="+l.addr(), "NINES_PUBLIC_URL="+public,
				"NINES_CLUSTER="+l.Cluster, "NINES_REPLICA_URLS="+reps, "NINES_NATS_URL="+nats,
				"NINES_KEK_FILE="+p.kekFile(), "NINES_TRUSTED_PROXIES=127.0.0.1",
				"NINES_INSTANCE_TAG="+l.Name)
		}
	}
	for _, a := range p.ofKind(KindAdmin) {
		caller := "admin-" + a.Zone
		db, err := p.dbURL(caller, KindAdmin, a.Region, a.Zone, p.primary)
		if err != nil {
			return err
		}
		reps, err := p.replicaURLs(caller, KindAdmin, a.Region, a.Zone, p.replicas[a.Region])
		if err != nil {
			return err
		}
		a.ready = "http://" + a.addr() + "/readyz"
		a.args = []string{"serve", "--role=admin"}
		a.env = func() []string {
			return append(p.baseEnv(a), "NINES_HTTP_ADDR="+a.addr(), "NINES_PUBLIC_URL="+public,
				"NINES_DATABASE_URL="+db, "NINES_REPLICA_URLS="+reps, "NINES_KEK_FILE="+p.kekFile(),
				"NINES_TRUSTED_PROXIES=127.0.0.1", "NINES_BOOTSTRAP_ADMIN_TOKEN="+p.adminToken)
		}
	}
	// Every edge serves the one public host name (in the lab: each listens on an
	// address of its own, and the load of a region dials its region's edge).
	for _, e := range p.ofKind(KindEdge) {
		if err := p.writeEdgeTable(e); err != nil {
			return err
		}
		e.ready = e.edgeCtlURL + "/readyz"
		e.args = []string{"serve", "--role=edge"}
		e.env = func() []string {
			return append(p.baseEnv(e), "NINES_HTTP_ADDR="+e.addr(), "NINES_PUBLIC_URL="+public,
				"NINES_EDGE_ROUTES="+p.routesPath(e),
				"NINES_EDGE_CONTROL_ADDR="+strings.TrimPrefix(e.edgeCtlURL, "http://"),
				"NINES_EDGE_CONTROL_TOKEN="+p.edgeToken)
		}
	}
	return nil
}

func (p *plan) routesPath(edge *component) string {
	return filepath.Join(p.dir, "edge-routes-"+edge.Region+".yaml")
}

// migrateDB is the database URL `nines migrate` uses: the first admin's proxy to the
// primary (a migration runs from the admin tier).
func (p *plan) migrateDB() (string, error) {
	a := p.ofKind(KindAdmin)[0]
	return p.dbURL("admin-"+a.Zone, KindAdmin, a.Region, a.Zone, p.primary)
}
