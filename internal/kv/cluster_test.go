package kv_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/kv/kvtest"

	"github.com/ninesid/nines/internal/testenv"
)

// startCluster starts three JetStream servers routed together on loopback (a test
// fixture; nines does not yet run embedded clusters) and returns a JetStream handle
// connected to the second one, once an R3 stream can be placed.
func startCluster(t testing.TB) jetstream.JetStream {
	t.Helper()
	var servers []*server.Server
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	// Routes must be configured on every server, so the cluster ports are picked first.
	ports := testenv.FreePorts(t, 3)
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	for i := range 3 {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		servers = append(servers, ns)
	}
	for i, ns := range servers {
		if !ns.ReadyForConnections(30 * time.Second) {
			t.Fatalf("server %d not ready", i)
		}
	}
	nc, err := nats.Connect(servers[1].ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The meta group needs a leader and three peers before an R3 bucket can be placed.
	const polls = 300
	for i := range polls {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err = kv.OpenBucket(ctx, js, kv.BucketConfig{Name: "probe", Replicas: 3})
		cancel()
		if err == nil {
			return js
		}
		if i == polls-1 {
			t.Fatalf("cluster never took an R3 bucket: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return js
}

// TestNATSClusterR3 runs the suite on R3 buckets of a three-server cluster, reached
// through a server that may or may not lead each stream: conflicts carry the replicated
// error code (10164) there, and Consume reads from the stream leader.
func TestNATSClusterR3(t *testing.T) {
	js := startCluster(t)
	n := 0
	kvtest.Run(t, func(t *testing.T) kv.Bucket {
		n++
		b, err := kv.OpenBucket(t.Context(), js, kv.BucketConfig{Name: fmt.Sprintf("r3_%d", n), TTL: time.Hour, Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		// A new R3 bucket elects its stream leader after it is created; until then a
		// read that needs the leader gets no responders (unavailable). The suite is about
		// the semantics, so it starts once the bucket answers.
		for i := 0; ; i++ {
			if _, err := b.Get(t.Context(), "nines-probe"); errors.Is(err, kv.ErrNotFound) {
				break
			} else if i == 200 {
				t.Fatalf("the new bucket never answered: %v", err)
			}
			time.Sleep(25 * time.Millisecond)
		}
		return b
	})
	_, err := kv.Open(t.Context(), js, kv.Options{Prefix: "r3", Replicas: 3})
	if err != nil {
		t.Fatalf("Open with 3 replicas: %v", err)
	}
	if _, err := kv.Open(t.Context(), js, kv.Options{Prefix: "r5", Replicas: 5}); err == nil || errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Open with 5 replicas on 3 servers = %v, want an error", err)
	}
}

// TestNATSClusterReadYourWrites: through every member of a three-node cluster, a key
// read right after its Create is found. (A direct get alone answered "not found" for
// about 1 read in 15 through one member: a replica that had not applied the write.)
func TestNATSClusterReadYourWrites(t *testing.T) {
	js := startCluster(t)
	b, err := kv.OpenBucket(t.Context(), js, kv.BucketConfig{Name: "ryw", TTL: time.Hour, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	urls := append([]string{js.Conn().ConnectedUrl()}, js.Conn().DiscoveredServers()...)
	if len(urls) != 3 {
		t.Fatalf("reached %d members (%v), want 3", len(urls), urls)
	}
	const perMember = 300
	missed := 0
	for i, u := range urls {
		nc, err := nats.Connect(u, nats.MaxReconnects(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		mjs, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := kv.OpenBucket(t.Context(), mjs, kv.BucketConfig{Name: "ryw", TTL: time.Hour, Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		for j := range perMember {
			key := fmt.Sprintf("k%d_%d", i, j)
			// Written through this member or the first connection, read through this member.
			w := mb
			if j%2 == 1 {
				w = b
			}
			if _, err := w.Create(t.Context(), key, []byte("v")); err != nil {
				t.Fatal(err)
			}
			if _, err := mb.Get(t.Context(), key); err != nil {
				missed++
				if missed <= 3 {
					t.Errorf("member %s: Get right after Create = %v", u, err)
				}
			}
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d reads right after a write missed the key", missed, 3*perMember)
	}
}
