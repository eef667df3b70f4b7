package app

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// A NATS connection whose path blackholes traffic (a zone's network dropping packets,
// a stalled proxy) still reports itself connected: TCP sees nothing wrong, and the
// client's pings notice only after natsPingInterval × natsMaxPingsOut. Meanwhile every
// KV operation waits out its attempt. The login tier therefore checks the connection
// itself when an operation found no answer on a connection that looks up, and
// reconnects (through another path, often to another member) when a round trip to the
// server does not come back.
const (
	natsPingInterval = 5 * time.Second // the client's own keep-alive (nats.go default: 2 min)
	natsMaxPingsOut  = 2               // unanswered pings before the client reconnects
	// stallCheckTimeout: a PING/PONG round trip that takes longer is a stalled path. A
	// server starved of CPU still answers a PING well within it, and a reconnect storm
	// from every login process would cost it more than the wait.
	stallCheckTimeout = 2 * time.Second
	stallCheckEvery   = 5 * time.Second // at most one check in this time
)

// stallChecker checks a connection suspected of carrying nothing and forces a
// reconnect when it does not answer a round trip.
type stallChecker struct {
	nc     *nats.Conn
	logger *slog.Logger
	busy   atomic.Bool
	last   atomic.Int64 // Unix nanoseconds of the last check
	forced atomic.Int64 // reconnects forced
}

// suspect starts a check unless one ran in the last stallCheckEvery; it never blocks.
func (c *stallChecker) suspect() {
	now := time.Now().UnixNano()
	if now-c.last.Load() < int64(stallCheckEvery) || !c.busy.CompareAndSwap(false, true) {
		return
	}
	c.last.Store(now)
	go func() {
		defer c.busy.Store(false)
		if !c.nc.IsConnected() {
			return // reconnecting already
		}
		err := c.nc.FlushTimeout(stallCheckTimeout)
		if err == nil || !c.nc.IsConnected() {
			return // it answers: a slow or electing cluster, not a dead path
		}
		c.forced.Add(1)
		c.logger.Warn("nats connection carries nothing: reconnecting",
			"server", redactURLs(c.nc.ConnectedUrl()), "error", err.Error())
		if err := c.nc.ForceReconnect(); err != nil {
			c.logger.Warn("nats reconnect", "error", err.Error())
		}
	}()
}

// onStall has every fallback bucket call fn when an operation found no answer on a
// connection that looks up.
func (f *kvFallback) onStall(fn func()) {
	for _, b := range f.buckets {
		b.SetStalled(fn)
	}
}
