package natsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
	// ServerName names the server in logs and, later, in a cluster (default "nines").
	ServerName string
	// Logger receives the server's log (default slog.Default()).
	Logger *slog.Logger
	// MaxStore and MaxMemory bound JetStream's file and memory storage in bytes
	// (defaults DefaultMaxStore and DefaultMaxMemory).
	MaxStore, MaxMemory int64
	// StartTimeout bounds the wait for the server to accept connections, which includes
	// recovering the file store (default DefaultStartTimeout; ctx may end it earlier).
	StartTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	ns   *server.Server
	name string
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
		// No HTTP monitor, WebSocket, MQTT, leafnode or cluster listener: their ports stay 0.
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
	return &Server{ns: ns, name: o.ServerName}, nil
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

// Shutdown stops the server and waits until it has stopped and flushed its store.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
