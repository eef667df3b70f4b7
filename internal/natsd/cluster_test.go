package natsd_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/natsd"

	"github.com/ninesid/nines/internal/testenv"
)

// quiet is a logger that drops everything below error: three servers electing leaders
// log a lot, and route dial failures to a stopped peer are expected here.
var quiet = slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// startCluster starts three members of cluster "c" in this process, each with its own
// store, a loopback client port and a loopback route port, every one routed to all.
// The servers start concurrently: a member waits for JetStream, which in a cluster
// needs its peers.
func startCluster(t *testing.T) []*natsd.Server {
	t.Helper()
	ports := testenv.FreePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("127.0.0.1:%d", p))
	}
	type started struct {
		i   int
		s   *natsd.Server
		err error
	}
	ch := make(chan started, 3)
	for i := range 3 {
		go func() {
			s, err := natsd.Start(t.Context(), natsd.Options{
				StoreDir:   t.TempDir(),
				Listen:     "127.0.0.1:0",
				ServerName: fmt.Sprintf("n%d", i+1),
				Logger:     quiet,
				Cluster:    natsd.Cluster{Name: "c", Listen: routes[i], Routes: routes},
			})
			ch <- started{i, s, err}
		}()
	}
	servers := make([]*natsd.Server, 3)
	var errs []error
	for range 3 {
		r := <-ch
		servers[r.i] = r.s
		errs = append(errs, r.err)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return servers
}

// openR3 connects a client that knows every member, as the login and worker roles are
// configured, and opens the login tier's buckets at R3 (retried while the cluster forms).
// The connection closes with the test.
func openR3(t *testing.T, servers []*natsd.Server) (*nats.Conn, jetstream.JetStream, kv.Buckets) {
	t.Helper()
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var buckets kv.Buckets
	waitFor(t, "kv.Open with 3 replicas", 100, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		buckets, err = kv.Open(ctx, js, kv.Options{Replicas: 3})
		return err == nil, fmt.Sprint(err)
	})
	return nc, js, buckets
}

// waitFor polls cond every 100ms, at most n times.
func waitFor(t *testing.T, what string, n int, cond func() (bool, string)) {
	t.Helper()
	var last string
	for range n {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not after %d polls; last: %s", what, n, last)
}

// TestClusterR3 forms a three-member cluster, opens the login tier's buckets at R3 and
// proves that losing one member costs no write: the two left keep a quorum of the meta
// group and of every bucket's stream.
func TestClusterR3(t *testing.T) {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	servers := startCluster(t)
	for _, s := range servers {
		if !strings.HasPrefix(s.ClusterURL(), "nats-route://127.0.0.1:") {
			t.Fatalf("%s: ClusterURL = %q", s.Name(), s.ClusterURL())
		}
	}
	waitFor(t, "a meta leader known to every member", 300, func() (bool, string) {
		var states []string
		leaders := map[string]bool{}
		for _, s := range servers {
			st := s.State()
			states = append(states, fmt.Sprintf("%s:%+v", s.Name(), st))
			if !st.Clustered || st.Leader == "" || st.Peers != 3 || st.Name != "c" {
				return false, strings.Join(states, " ")
			}
			leaders[st.Leader] = true
		}
		return len(leaders) == 1, strings.Join(states, " ")
	})

	nc, js, buckets := openR3(t, servers)
	info, err := js.Stream(t.Context(), "KV_"+kv.DefaultPrefix+"_"+kv.SessionsSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if r := info.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("sessions bucket has %d replicas, want 3", r)
	}
	rev, err := buckets.Codes.Create(t.Context(), "before", []byte("1"))
	if err != nil {
		t.Fatalf("Create on three members: %v", err)
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("3-member cluster with the login buckets at R3, in one process: heap in use %.1f MiB (was %.1f), "+
		"from the OS %.1f MiB, %d goroutines",
		float64(after.HeapInuse)/(1<<20), float64(before.HeapInuse)/(1<<20), float64(after.Sys)/(1<<20), runtime.NumGoroutine())

	// Stop the member the client is connected to, unless it leads the meta group: then
	// stop a follower, so that both a leader election and a client fail-over are
	// exercised across runs without depending on which member won.
	victim := servers[0]
	for _, s := range servers {
		if s.ClientURL() == nc.ConnectedUrl() {
			victim = s
		}
	}
	t.Logf("stopping %s (meta leader %s)", victim.Name(), victim.State().Leader)
	victim.Shutdown()

	// Writes go on with two members: poll, since a stream whose leader was stopped
	// elects a new one first (a few seconds at most).
	waitFor(t, "a write after one member stopped", 300, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := buckets.Codes.Create(ctx, "after", []byte("2"))
		if errors.Is(err, kv.ErrExists) {
			return true, "" // an earlier attempt was stored, its answer lost
		}
		return err == nil, fmt.Sprint(err)
	})
	if _, err := buckets.Codes.Update(t.Context(), "before", []byte("1b"), rev); err != nil {
		t.Fatalf("compare-and-swap with two members: %v", err)
	}
	e, err := buckets.Sessions.Get(t.Context(), "nothing")
	if !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get of an absent key with two members = %v, %v", e, err)
	}
	for _, k := range []string{"before", "after"} {
		if _, err := buckets.Codes.Consume(t.Context(), k); err != nil {
			t.Fatalf("Consume %s with two members: %v", k, err)
		}
	}
}

// TestClusterOptionsErrors covers the cluster settings Start refuses.
func TestClusterOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		c    natsd.Cluster
		want string
	}{
		{"routes without a name", natsd.Cluster{Routes: []string{"127.0.0.1:6222"}}, "without a cluster name"},
		{"listen without a name", natsd.Cluster{Listen: "127.0.0.1:0"}, "without a cluster name"},
		{"name without listen", natsd.Cluster{Name: "c"}, "cluster listen address"},
		{"bad listen", natsd.Cluster{Name: "c", Listen: "127.0.0.1"}, "missing port"},
		{"route without port", natsd.Cluster{Name: "c", Listen: "127.0.0.1:0", Routes: []string{"127.0.0.1"}}, "needs host:port"},
		{"route with port 0", natsd.Cluster{Name: "c", Listen: "127.0.0.1:0", Routes: []string{"127.0.0.1:0"}}, "needs host:port"},
		{"route of another scheme", natsd.Cluster{Name: "c", Listen: "127.0.0.1:0", Routes: []string{"http://127.0.0.1:6222"}}, "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := natsd.Start(t.Context(), natsd.Options{StoreDir: t.TempDir(), Logger: quiet, Cluster: tt.c})
			if err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestRouteURLs pins the route forms the nats role accepts.
func TestRouteURLs(t *testing.T) {
	got, err := natsd.RouteURLs([]string{" 127.0.0.1:6222 ", "", "nats-route://h2:6223", "nats://[::1]:6224"})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, u := range got {
		s = append(s, u.String())
	}
	want := "nats-route://127.0.0.1:6222 nats-route://h2:6223 nats://[::1]:6224"
	if strings.Join(s, " ") != want {
		t.Fatalf("RouteURLs = %v, want %s", s, want)
	}
}

// TestClusterLameDuck: a member stopped with LameDuckShutdown (what --role=nats does on
// SIGTERM) first hands over the leadership of the streams it leads and moves its
// clients to the other members; writes go on, and the bucket's stream is led by a
// member still running.
func TestClusterLameDuck(t *testing.T) {
	servers := startCluster(t)
	_, js, buckets := openR3(t, servers)
	stream := "KV_" + kv.DefaultPrefix + "_" + kv.CodesSuffix
	leader := func() string {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil || s.CachedInfo().Cluster == nil {
			return ""
		}
		return s.CachedInfo().Cluster.Leader
	}
	var was string
	waitFor(t, "the codes stream has a leader", 100, func() (bool, string) { was = leader(); return was != "", "" })
	var victim *natsd.Server
	for _, s := range servers {
		if s.Name() == was {
			victim = s
		}
	}
	if victim == nil {
		t.Fatalf("stream leader %q is not a member", was)
	}
	// A client of the victim alone is told of the lame-duck mode (a plain Shutdown
	// just drops it): that notice is what moves clients before the member goes.
	notified := make(chan struct{}, 1)
	vc, err := nats.Connect(victim.ClientURL(), nats.MaxReconnects(0),
		nats.LameDuckModeHandler(func(*nats.Conn) { notified <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	victim.LameDuckShutdown()
	select {
	case <-notified:
	case <-time.After(10 * time.Second):
		t.Fatal("the victim's client was not told of the lame-duck mode")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(victim.ClientURL(), "nats://"), time.Second); err == nil {
		c.Close()
		t.Fatal("the member still accepts clients after LameDuckShutdown")
	}
	waitFor(t, "a write after the leader's lame-duck shutdown", 100, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := buckets.Codes.Create(ctx, "after", []byte("1"))
		return err == nil || errors.Is(err, kv.ErrExists), fmt.Sprint(err)
	})
	waitFor(t, "the codes stream led by a member still running", 100, func() (bool, string) {
		now := leader()
		return now != "" && now != was, fmt.Sprintf("leader %q (was %q)", now, was)
	})
}
