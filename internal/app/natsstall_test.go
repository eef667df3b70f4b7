package app

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ninesid/nines/internal/natsd"
)

// freezeProxy forwards TCP connections to a target; freeze makes every connection open
// at that moment carry nothing more, in either direction, while staying open — a path
// that blackholes traffic — and new connections flow normally.
type freezeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen []chan struct{} // one per open connection, closed to freeze it
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		stop := make(chan struct{})
		p.mu.Lock()
		p.frozen = append(p.frozen, stop)
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go pipe(u, c, stop)
		go pipe(c, u, stop)
	}
}

// pipe copies src to dst until either fails or stop is closed; after stop it reads and
// drops what src sends (the bytes vanish, the connection stays up).
func pipe(dst, src net.Conn, stop chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-stop:
			default:
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (p *freezeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.frozen {
		close(s)
	}
	p.frozen = nil
}

func (p *freezeProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestStallCheckerReconnects: a connection whose path carries nothing any more still
// reports itself connected; the check a failed KV operation starts finds that no round
// trip comes back and forces a reconnect, which takes a new (working) path. A
// connection that answers is left alone.
func TestStallCheckerReconnects(t *testing.T) {
	srv, err := natsd.Start(t.Context(), natsd.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	proxy := newFreezeProxy(t, srv.ClientURL()[len("nats://"):])
	reconnected := make(chan struct{}, 4)
	nc, err := nats.Connect("nats://"+proxy.addr(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &stallChecker{nc: nc, logger: discardLogger()}

	// Healthy: the check's round trip answers, nothing is forced.
	c.suspect()
	waitIdle(t, c)
	if c.forced.Load() != 0 {
		t.Fatalf("forced %d reconnects of a connection that answers", c.forced.Load())
	}

	// Frozen: still "connected", no round trip comes back.
	proxy.freeze()
	if err := nc.FlushTimeout(200 * time.Millisecond); err == nil || !nc.IsConnected() {
		t.Fatalf("frozen connection: flush = %v, connected %v; want a timeout while connected", err, nc.IsConnected())
	}
	c.last.Store(0) // past the rate limit
	c.suspect()
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("no reconnect within 10 s of the check (forced %d)", c.forced.Load())
	}
	waitIdle(t, c)
	if c.forced.Load() != 1 {
		t.Fatalf("forced %d reconnects, want 1", c.forced.Load())
	}
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		t.Fatalf("round trip after the reconnect: %v", err)
	}

	// Rate-limited: a second suspicion right after a check starts no other.
	c.last.Store(time.Now().UnixNano())
	c.suspect()
	if c.busy.Load() {
		t.Fatal("a check started within stallCheckEvery of the last")
	}
}

// waitIdle waits (bounded) until no check is running.
func waitIdle(t *testing.T, c *stallChecker) {
	t.Helper()
	for range 200 {
		if !c.busy.Load() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("the stall check did not finish within 5 s")
}
