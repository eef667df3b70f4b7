package natsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults of Options.
const (
	DefaultServerName   = "nines"
	DefaultMaxMemory    = 64 << 20 // JetStream memory storage; the KV buckets use files
	DefaultMaxStore     = 1 << 30  // JetStream file storage: the KV buckets reserve 896 MiB of it (kv.TotalMaxBytes)
	DefaultStartTimeout = 60 * time.Second
	readyPoll           = 250 * time.Millisecond
)

// Options configure an embedded server.
type Options struct {
	// StoreDir holds the JetStream file store (required). Two servers must never share it.
	StoreDir string
	// Listen is a host:port for NATS clients ("127.0.0.1:0" picks a free port); empty
	// opens no TCP listener and only Connect reaches the server.
	Listen string
	// ServerName names the server in logs and in a cluster (default "nines"). Every
	// member of a cluster needs its own: JetStream places replicas by server name.
	ServerName string
	// Cluster, when its Name is set, makes the server one member of a JetStream
	// cluster: it listens for routes from its peers and dials theirs. The zero value
	// runs a single server that opens no cluster port.
	Cluster Cluster
	// Logger receives the server's log (default slog.Default()).
	Logger *slog.Logger
	// MaxStore and MaxMemory bound JetStream's file and memory storage in bytes
	// (defaults DefaultMaxStore and DefaultMaxMemory).
	MaxStore, MaxMemory int64
	// StartTimeout bounds the wait for the server to accept connections, which includes
	// recovering the file store (default DefaultStartTimeout; ctx may end it earlier).
	StartTimeout time.Duration
}

// Cluster is the clustering of one server (Options.Cluster).
type Cluster struct {
	// Name is the cluster's name, the same on every member.
	Name string
	// Listen is the host:port this member accepts routes on ("127.0.0.1:0" picks a free
	// port; read it back with ClusterURL). Required with Name.
	Listen string
	// Routes are the peers' route URLs (nats-route://host:port, or host:port). Listing
	// every member, this one included, is fine: a server ignores a route to itself.
	// The server keeps dialling a peer that is down.
	Routes []string
}

func (c Cluster) enabled() bool { return c.Name != "" }

// Server is a running embedded NATS server.
type Server struct {
	ns      *server.Server
	name    string
	listens bool // has a client listener (LameDuckShutdown needs one)
}

// Start starts a server with JetStream file storage under o.StoreDir and returns once it
// accepts connections and JetStream is enabled.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsd: StoreDir is required")
	}
	if o.ServerName == "" {
		o.ServerName = DefaultServerName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxStore <= 0 {
		o.MaxStore = DefaultMaxStore
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	sopts := &server.Options{
		ServerName:         o.ServerName,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		JetStreamMaxStore:  o.MaxStore,
		JetStreamMaxMemory: o.MaxMemory,
		SyncAlways:         true, // the default fsyncs every 2 minutes
		NoSigs:             true,
		DontListen:         o.Listen == "",
		// LameDuckShutdown: hand Raft leaderships over, stop JetStream, then close the
		// clients spread over the rest of the duration (they reconnect to the others).
		LameDuckDuration:    LameDuckDuration,
		LameDuckGracePeriod: lameDuckGrace,
		// No HTTP monitor, WebSocket, MQTT or leafnode listener: their ports stay 0. The
		// cluster listener only with Options.Cluster.
	}
	if err := clusterOptions(sopts, o.Cluster); err != nil {
		return nil, err
	}
	if o.Listen != "" {
		host, port, err := splitListen(o.Listen)
		if err != nil {
			return nil, err
		}
		sopts.Host, sopts.Port = host, port
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natsd: %w", err)
	}
	logs := &slogAdapter{l: o.Logger.With("component", "nats")}
	ns.SetLoggerV2(logs, false, false, false)
	ns.Start()

	if err := waitReady(ctx, ns, logs, o.StartTimeout); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsd: %w", err)
	}
	return &Server{ns: ns, name: o.ServerName, listens: o.Listen != ""}, nil
}

// waitReady polls until ns takes connections with JetStream on, at most timeout, until
// ctx ends, or until the server logs a fatal error (it does not exit or become ready then).
func waitReady(ctx context.Context, ns *server.Server, logs *slogAdapter, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := 0; i < int(timeout/readyPoll)+1; i++ {
		if f := logs.fatalMessage(); f != "" {
			return errors.New(f)
		}
		if ns.ReadyForConnections(readyPoll) {
			if ns.JetStreamEnabled() {
				return nil
			}
			return errors.New("jetstream did not start")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			break
		}
	}
	return fmt.Errorf("not ready after %s", timeout)
}

// clusterOptions sets the route listener and the peers of a cluster member.
func clusterOptions(sopts *server.Options, c Cluster) error {
	if !c.enabled() {
		if c.Listen != "" || len(c.Routes) > 0 {
			return errors.New("natsd: cluster listen or routes without a cluster name")
		}
		return nil
	}
	if c.Listen == "" {
		return errors.New("natsd: a cluster member needs a cluster listen address")
	}
	host, port, err := splitListen(c.Listen)
	if err != nil {
		return err
	}
	routes, err := RouteURLs(c.Routes)
	if err != nil {
		return err
	}
	sopts.Cluster = server.ClusterOpts{
		Name: c.Name,
		Host: host,
		Port: port,
		// Clients are not told the members' own client addresses: they use the URLs
		// they were given (NINES_NATS_URL lists every member, or the proxies and load
		// balancers in front of them) and nothing else, so a path through a proxy or a
		// zone boundary is not bypassed after a reconnect.
		NoAdvertise: true,
	}
	// Explicit routes are dialled forever, every second, so a member restarted or
	// started later joins without help.
	sopts.Routes = routes
	return nil
}

// RouteURLs parses peers' route addresses: nats-route://host:port, nats://host:port or
// a bare host:port (read as nats-route://). Every entry needs a host and a port.
func RouteURLs(list []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range list {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !strings.Contains(r, "://") {
			r = "nats-route://" + r
		}
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("natsd: route %q: not a URL", r)
		}
		if u.Scheme != "nats-route" && u.Scheme != "nats" {
			return nil, fmt.Errorf("natsd: route %q: scheme must be nats-route:// or nats://", r)
		}
		if _, _, err := splitListen(u.Host); err != nil || u.Hostname() == "" || u.Port() == "" || u.Port() == "0" {
			return nil, fmt.Errorf("natsd: route %q: needs host:port", r)
		}
		out = append(out, u)
	}
	return out, nil
}

func splitListen(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("natsd: listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("natsd: listen %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port 4222
	}
	return host, port, nil
}

// Connect opens a client connection to the server inside this process (no TCP). The
// caller closes or drains it before Shutdown.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{nats.InProcessServer(s.ns), nats.Name(s.name)}, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("natsd: connect: %w", err)
	}
	return nc, nil
}

// ClientURL is the nats:// URL clients outside the process use, or "" when the server
// does not listen.
func (s *Server) ClientURL() string {
	a := s.ns.Addr()
	if a == nil {
		return ""
	}
	return "nats://" + a.String()
}

// ClusterURL is the nats-route:// URL peers dial to reach this member, or "" when the
// server is not clustered.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + a.String()
}

// Name is the server's name.
func (s *Server) Name() string { return s.name }

// ClusterState is what a member knows of its JetStream cluster.
type ClusterState struct {
	JetStream bool   `json:"jetstream"`         // JetStream is enabled on this server
	Clustered bool   `json:"clustered"`         // this server is a cluster member
	Name      string `json:"cluster,omitempty"` // the cluster's name
	Leader    string `json:"meta_leader"`       // server name of the meta leader; "" while there is none
	Peers     int    `json:"peers"`             // cluster size as this server knows it
	Routes    int    `json:"routes"`            // route connections open to peers
	Current   bool   `json:"current"`           // this server's meta log is caught up with the leader's
}

// State reports JetStream and cluster membership as this server sees it. A cluster can
// place and serve replicated streams only while it has a meta leader.
func (s *Server) State() ClusterState {
	st := ClusterState{JetStream: s.ns.JetStreamEnabled(), Clustered: s.ns.JetStreamIsClustered(),
		Name: s.ns.ClusterName(), Routes: s.ns.NumRoutes(), Current: s.ns.JetStreamIsCurrent()}
	if !st.JetStream {
		return st
	}
	info, err := s.ns.Jsz(nil)
	if err != nil || info == nil {
		return st
	}
	if m := info.Meta; m != nil {
		st.Leader, st.Peers = m.Leader, m.Size
	} else if !st.Clustered {
		st.Leader, st.Peers = s.name, 1
	}
	return st
}

// LameDuckDuration bounds LameDuckShutdown: leaderships handed over (about a second),
// then the clients closed over the rest, a few at a time, so that they do not all
// reconnect at once.
const (
	LameDuckDuration = 4 * time.Second
	lameDuckGrace    = time.Second
)

// LameDuckShutdown stops a member of a cluster gently: it stops accepting clients, hands
// the Raft leaderships it holds (the meta group, streams, KV buckets) to the other
// members — so that no client waits out an election after it is gone — stops
// JetStream, closes its clients over LameDuckDuration and shuts down. A server without
// a client listener shuts down at once.
func (s *Server) LameDuckShutdown() {
	if s.listens {
		s.ns.LameDuckShutdown()
	}
	s.Shutdown()
}

// Shutdown stops the server and waits until it has stopped and flushed its store.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
