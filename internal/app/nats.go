package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/natsd"
)

// NATS connection settings. Reconnection never gives up: the login tier's state lives
// there, and a broker outage must heal by itself.
const (
	natsConnectTimeout = 5 * time.Second
	natsReconnectMin   = 250 * time.Millisecond
	natsReconnectMax   = 10 * time.Second
	natsDrainTimeout   = 10 * time.Second
	natsOpenTimeout    = 30 * time.Second
	natsStoreDirName   = "nats" // under the data directory
	natsClusterPeers   = 3      // servers known in the cluster for R3 buckets
)

// natsRuntime is the NATS side of a serving process: an embedded server on the default
// (nil with NINES_NATS_URL), the connection, and the login tier's buckets on it.
type natsRuntime struct {
	srv      *natsd.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	buckets  kv.Buckets
	replicas int
	urls     string        // configured server URLs (credentials included: never log as is)
	closed   chan struct{} // closed by the connection's ClosedHandler
	// downSince is when the connection or JetStream was last seen failing, in Unix
	// nanoseconds; 0 while healthy. The connection's handlers and the health check
	// keep it.
	downSince atomic.Int64
	// fallback keeps the login surface's buckets working from memory while an external
	// NATS is unreachable (kvfallback.go); nil on the embedded server and for roles
	// without the login surface.
	fallback *kvFallback
	stopSync context.CancelFunc // stops the fallback's sync loop
}

// openNATS starts the embedded server (cfg.NATSURL empty; in-process only, store under
// <data dir>/nats) or connects to cfg.NATSURL, then opens the buckets. The first
// connection must succeed; after that the client reconnects forever.
func openNATS(ctx context.Context, cfg config.Config, role Role, logger *slog.Logger) (_ *natsRuntime, err error) {
	rt := &natsRuntime{urls: cfg.NATSURL, closed: make(chan struct{})}
	defer func() {
		if err != nil {
			rt.close(logger)
		}
	}()
	opts := []nats.Option{
		nats.Name(connectionName(role, cfg)),
		nats.Timeout(natsConnectTimeout),
		nats.MaxReconnects(-1),
		nats.PingInterval(natsPingInterval),
		nats.MaxPingsOutstanding(natsMaxPingsOut),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: we are closing the connection
				rt.markDown(time.Now())
				logger.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			rt.downSince.Store(0)
			logger.Info("nats reconnected", "server", redactURLs(nc.ConnectedUrl()))
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(rt.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Warn("nats error", "error", err)
		}),
	}
	if cfg.NATSURL == "" {
		rt.srv, err = natsd.Start(ctx, natsd.Options{
			StoreDir:   filepath.Join(cfg.DataDir, natsStoreDirName),
			ServerName: "nines",
			Logger:     logger,
		})
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: %w", err)
		}
		rt.nc, err = rt.srv.Connect(opts...)
	} else {
		rt.nc, err = nats.Connect(cfg.NATSURL, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", redactURLs(cfg.NATSURL), err)
	}
	if rt.js, err = jetstream.New(rt.nc); err != nil {
		return nil, fmt.Errorf("nats jetstream: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, natsOpenTimeout)
	defer cancel()
	rt.replicas = 1
	if rt.srv == nil {
		rt.replicas = bucketReplicas(octx, rt.nc, rt.js, natsAttemptTimeout)
	}
	// The admin role uses NATS for the read-only switch's control bucket and the change
	// notifications only: none of the login tier's buckets.
	if role != RoleAdmin {
		if rt.buckets, err = openBuckets(octx, rt.js, rt.replicas, logger); err != nil {
			return nil, err
		}
	}
	if rt.srv == nil && (role == RoleLogin || role == RoleAll) {
		rt.buckets, rt.fallback = withFallback(rt.buckets, rt.nc.IsConnected)
		rt.fallback.onStall((&stallChecker{nc: rt.nc, logger: logger}).suspect)
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		rt.stopSync = stop
		go rt.fallback.run(sctx, logger)
	}
	logger.Info("nats ready", "embedded", rt.srv != nil, "server", serverLabel(rt), "replicas", rt.replicas)
	return rt, nil
}

// bucketReplicas picks the replicas of the buckets on an external server: an existing
// bucket keeps what it has (never scale a bucket down, or up, by surprise); a new one is
// R3 when the server is part of a cluster that has announced at least three servers, R1
// otherwise. A config knob (NINES_NATS_REPLICAS) would be more explicit; this works
// without one.
func bucketReplicas(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, timeout time.Duration) int {
	lctx, cancel := context.WithTimeout(ctx, timeout) // a cluster still electing drops the request
	defer cancel()
	if h, err := js.KeyValue(lctx, kv.DefaultPrefix+"_"+kv.SessionsSuffix); err == nil {
		if st, err := h.Status(lctx); err == nil {
			if s, ok := st.(*jetstream.KeyValueBucketStatus); ok && s.StreamInfo().Config.Replicas > 0 {
				return s.StreamInfo().Config.Replicas
			}
		}
	}
	if nc.ConnectedClusterName() == "" {
		return 1
	}
	hosts := map[string]bool{}
	for _, s := range nc.Servers() {
		if u, err := url.Parse(s); err == nil {
			hosts[u.Host] = true
		}
	}
	if len(hosts) >= natsClusterPeers {
		return natsClusterPeers
	}
	return 1
}

// reconnectDelay backs off exponentially with jitter, from natsReconnectMin up to
// natsReconnectMax, so that a fleet does not reconnect in lockstep.
func reconnectDelay(attempts int) time.Duration {
	d := natsReconnectMin << min(max(attempts, 0), 6)
	d = min(d, natsReconnectMax)
	return d/2 + rand.N(d/2+1)
}

// connectionName shows in the server's connection list who this client is.
func connectionName(role Role, cfg config.Config) string {
	parts := []string{"nines", "role=" + string(role)}
	for _, l := range []struct{ k, v string }{{"region", cfg.Region}, {"cluster", cfg.Cluster}, {"zone", cfg.Zone}} {
		if l.v != "" {
			parts = append(parts, l.k+"="+l.v)
		}
	}
	return strings.Join(parts, " ")
}

// redactURLs drops the user information of each URL in a comma-separated list: a NATS
// URL may carry a password, or a token in the user name.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = config.Redacted
			continue
		}
		u.User = nil
		parts[i] = config.RedactURL(u.String())
	}
	return strings.Join(parts, ",")
}

// serverLabel names the server for logs and /readyz, without credentials: the connected
// one, else the configured list.
func serverLabel(rt *natsRuntime) string {
	if rt.srv != nil {
		return "embedded"
	}
	if u := rt.nc.ConnectedUrl(); u != "" {
		return redactURLs(u)
	}
	return redactURLs(rt.urls)
}

// testHookBuckets, when set by a test, receives the buckets a serving process opened.
// The login surface will take them from serve instead.
var testHookBuckets func(kv.Buckets)

func bucketsOpened(b kv.Buckets) {
	if testHookBuckets != nil {
		testHookBuckets(b)
	}
}

// healthCheck is the /readyz check of rt, nil when the role runs without NATS.
func (rt *natsRuntime) healthCheck() func(context.Context) natsHealth {
	if rt == nil {
		return nil
	}
	return rt.health
}

// natsHealth is the nats entry of /readyz.
type natsHealth struct {
	Embedded  bool   `json:"embedded"`
	Server    string `json:"server"` // URL without credentials, or "embedded"
	Connected bool   `json:"connected"`
	JetStream bool   `json:"jetstream"` // JetStream answered an account-info request
	Replicas  int    `json:"replicas"`
	Error     string `json:"error,omitempty"`
	// DownSince is when the failure reported began (the disconnection, or the first
	// check JetStream failed); zero while healthy.
	DownSince time.Time `json:"down_since,omitzero"`
}

func (h natsHealth) healthy() bool { return h.Connected && h.JetStream }

// health checks the connection and asks JetStream for the account's info (one request).
func (rt *natsRuntime) health(ctx context.Context) natsHealth {
	h := natsHealth{Embedded: rt.srv != nil, Server: serverLabel(rt), Connected: rt.nc.IsConnected(), Replicas: rt.replicas}
	if !h.Connected {
		h.Error = "not connected (" + rt.nc.Status().String() + ")"
		h.DownSince = rt.markDown(time.Now())
		return h
	}
	if _, err := rt.js.AccountInfo(ctx); err != nil {
		h.Error = "jetstream: " + err.Error()
		h.DownSince = rt.markDown(time.Now())
		return h
	}
	rt.downSince.Store(0)
	h.JetStream = true
	return h
}

// markDown records now as the start of a failure unless one is already recorded, and
// returns the recorded start.
func (rt *natsRuntime) markDown(now time.Time) time.Time {
	rt.downSince.CompareAndSwap(0, now.UnixNano())
	return time.Unix(0, rt.downSince.Load()).UTC()
}

// close drains the connection (pending publishes are flushed, within natsDrainTimeout)
// and then stops the embedded server. It is safe on a partly opened runtime.
func (rt *natsRuntime) close(logger *slog.Logger) error {
	var errs []error
	if rt.stopSync != nil {
		rt.stopSync()
		if n := rt.fallback.stats.LocalEntries.Load(); n > 0 {
			logger.Warn("kv fallback: state held only in memory is lost with this process", "local_entries", n)
		}
	}
	if rt.nc != nil {
		// Drain closes a connection that is reconnecting at once (nothing can be flushed
		// then) and says so; that is the broker's state, not a failure to shut down.
		if err := rt.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) &&
			!errors.Is(err, nats.ErrConnectionReconnecting) {
			errs = append(errs, fmt.Errorf("drain nats: %w", err))
		}
		select {
		case <-rt.closed:
		case <-time.After(natsDrainTimeout):
			rt.nc.Close()
			errs = append(errs, errors.New("drain nats: timed out"))
		}
	}
	if rt.srv != nil {
		rt.srv.Shutdown()
	}
	logger.Info("nats closed", "embedded", rt.srv != nil)
	return errors.Join(errs...)
}
