package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/kv"

	"github.com/ninesid/nines/internal/testenv"
)

// natsRoleConfig is a nats member's configuration as `serve --role=nats` validates it:
// HTTP and NATS clients on free loopback ports, routes on the picked ports.
func natsRoleConfig(t *testing.T, name, clusterListen string, routes []string) config.Config {
	t.Helper()
	cfg := testConfig(t, filepath.Join(t.TempDir(), name))
	cfg.LogLevel = "info"
	cfg.NATSNode, cfg.NATSName = true, name
	cfg.NATSListen, cfg.NATSClusterListen, cfg.NATSRoutes = "127.0.0.1:0", clusterListen, routes
	if err := cfg.Validate(); err != nil {
		t.Fatalf("nats config: %v", err)
	}
	return cfg
}

// natsReadyz reads a nats member's /readyz.
func natsReadyz(t *testing.T, base string) (int, natsNodeReadiness) {
	t.Helper()
	code, body := get(t, base+"/readyz", "")
	var rd natsNodeReadiness
	if err := json.Unmarshal(body, &rd); err != nil {
		t.Fatalf("readyz %d %s: %v", code, body, err)
	}
	return code, rd
}

// pollNATSReadyz asks /readyz every 100ms, at most 300 times, until done says yes.
func pollNATSReadyz(t *testing.T, base string, done func(int, natsNodeReadiness) bool) natsNodeReadiness {
	t.Helper()
	var (
		code int
		rd   natsNodeReadiness
	)
	for range 300 {
		if code, rd = natsReadyz(t, base); done(code, rd) {
			return rd
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/readyz never reached the expected state; last: %d %+v", base, code, rd)
	return rd
}

// TestNATSRole: three `serve --role=nats` processes (in this test process) form a
// JetStream cluster; each is unready alone and ready once the cluster has a meta
// leader; the login tier's buckets open at R3 through them, and stay writable with one
// member stopped; /metrics reports the member's view.
func TestNATSRole(t *testing.T) {
	var routes []string
	var ls []net.Listener
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		routes = append(routes, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}

	first := startRole(t, "nats-1", Options{Config: natsRoleConfig(t, "nats-1", routes[0], routes), Role: RoleNATS})
	// Alone, a member has JetStream but no meta leader: no bucket could be created.
	if code, rd := natsReadyz(t, first.base); code != 503 || rd.Status != "unavailable" || !rd.NATS.JetStream || rd.NATS.Leader != "" {
		t.Fatalf("a lone member's readyz = %d %+v, want 503 unavailable without a leader", code, rd)
	}
	members := []*running{first}
	for i := 1; i < 3; i++ {
		name := fmt.Sprintf("nats-%d", i+1)
		members = append(members, startRole(t, name, Options{Config: natsRoleConfig(t, name, routes[i], routes), Role: RoleNATS}))
	}
	var urls []string
	for _, m := range members {
		rd := pollNATSReadyz(t, m.base, func(code int, rd natsNodeReadiness) bool { return code == 200 })
		if rd.Status != "ready" || rd.NATS.Name != config.DefaultNATSClusterName || rd.Role != RoleNATS ||
			!strings.HasPrefix(rd.ClientURL, "nats://127.0.0.1:") || !strings.HasPrefix(rd.RouteURL, "nats-route://127.0.0.1:") {
			t.Fatalf("readyz = %+v", rd)
		}
		urls = append(urls, rd.ClientURL)
	}

	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if got := bucketReplicas(t.Context(), nc, js, natsAttemptTimeout); got != 3 {
		t.Fatalf("bucketReplicas on the nats role's cluster = %d, want 3", got)
	}
	buckets, err := kv.Open(t.Context(), js, kv.Options{Replicas: 3})
	if err != nil {
		t.Fatalf("kv.Open R3: %v", err)
	}
	if _, err := buckets.Sessions.Put(t.Context(), "s1", []byte("v")); err != nil {
		t.Fatal(err)
	}

	code, metricsText := get(t, members[0].base+"/metrics", "")
	for _, want := range []string{
		`nines_nats_meta_leader_known{cluster="",region="",role="nats",zone=""} 1`,
		`nines_nats_jetstream_up{cluster="",region="",role="nats",zone=""} 1`,
		`nines_nats_routes{`,
		`nines_http_requests_total{cluster="",code="200",region="",role="nats",route="GET /readyz",zone=""}`,
	} {
		if code != 200 || !strings.Contains(string(metricsText), want) {
			t.Fatalf("/metrics %d lacks %q:\n%s", code, want, metricsText)
		}
	}

	if err := members[0].stop(t); err != nil {
		t.Fatalf("stop nats-1: %v", err)
	}
	for _, m := range members[1:] {
		pollNATSReadyz(t, m.base, func(code int, rd natsNodeReadiness) bool { return code == 200 && rd.NATS.Leader != "nats-1" })
	}
	for i := 0; ; i++ { // a stream led by the stopped member elects a new leader first
		_, err := buckets.Sessions.Put(t.Context(), "s2", []byte("v"))
		if err == nil {
			break
		}
		if i == 100 || !errors.Is(err, kv.ErrUnavailable) {
			t.Fatalf("Put with one of three members stopped: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNATSRoleRefusesAnUnvalidatedConfig: runNATS needs the configuration validated
// for the role (it is a usage error otherwise, never a half-configured server).
func TestNATSRoleRefusesAnUnvalidatedConfig(t *testing.T) {
	err := Run(t.Context(), Options{Config: testConfig(t, t.TempDir()), Role: RoleNATS, Log: &testenv.Buffer{}})
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("Run = %v, want a usage error", err)
	}
}

// startNATSRole starts three nats members on loopback and returns their client URLs
// (comma-separated), without waiting for the cluster to elect a meta leader.
func startNATSRole(t *testing.T) (urls string, members []*running) {
	t.Helper()
	var routes []string
	var ls []net.Listener
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		routes = append(routes, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	var list []string
	for i := range 3 {
		name := fmt.Sprintf("nats-%d", i+1)
		m := startRole(t, name, Options{Config: natsRoleConfig(t, name, routes[i], routes), Role: RoleNATS})
		_, rd := natsReadyz(t, m.base)
		list = append(list, rd.ClientURL)
		members = append(members, m)
	}
	return strings.Join(list, ","), members
}

// TestJoinAClusterStillElecting: a process started while the NATS cluster has no meta
// leader yet (the members were all just started, as in a fresh local topology) waits
// for it and opens its R3 buckets and stream, instead of failing its start on a
// request the cluster dropped.
func TestJoinAClusterStillElecting(t *testing.T) {
	urls, _ := startNATSRole(t)
	cfg := testConfig(t, t.TempDir())
	cfg.NATSURL = urls
	r := startRole(t, "all", Options{Config: cfg})
	code, rd := readyzBody(t, r.base)
	if code != 200 || rd.NATS == nil || !rd.NATS.JetStream || rd.NATS.Replicas != 3 {
		t.Fatalf("readyz = %d %+v nats %+v, want ready on R3", code, rd, rd.NATS)
	}
}

// TestStartTogetherOnAFreshCluster: two processes started at the same moment against a
// fresh cluster create the same R3 buckets and command stream concurrently (nats-server
// then answers neither request); both still open them, within natsOpenTimeout. It runs
// the NATS start-up of the login role (openNATS, openCommands) twice in parallel.
func TestStartTogetherOnAFreshCluster(t *testing.T) {
	urls, _ := startNATSRole(t)
	errs := make(chan error, 2)
	for i := range 2 {
		cfg := testConfig(t, filepath.Join(t.TempDir(), fmt.Sprint(i)))
		cfg.NATSURL = urls
		go func() {
			nrt, err := openNATS(t.Context(), cfg, RoleLogin, discardLogger())
			if err != nil {
				errs <- fmt.Errorf("process %d: openNATS: %w", i, err)
				return
			}
			defer nrt.close(discardLogger())
			pub, err := openCommands(t.Context(), cfg, nrt, discardLogger())
			if err != nil {
				errs <- fmt.Errorf("process %d: openCommands: %w", i, err)
				return
			}
			defer pub.Close()
			if nrt.replicas != 3 {
				err = fmt.Errorf("process %d: %d replicas, want 3", i, nrt.replicas)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
