package edge

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"
)

var faultPosts = flag.Int("edge.fault-posts", 1100, "POST requests sent through the edge during each injected fault")

// faultSettings: production health timing (probe every second), attempts time out
// after 1s (the production default is 5s: the test would only wait longer; shorter would
// make healthy backends on a loaded machine look slow).
const faultSettings = `
routes:
  login: {timeout: 5s, try_timeout: 1s}
`

// TestFaultInjection runs steady load through an edge in front of two clusters of two
// backends — GETs from one client and, meanwhile, POSTs from a sequential
// client —, injects one fault per subtest, and checks what the clients saw while the
// fault lasted: no failed idempotent request (they are retried on another backend), and
// under 0.1% failed non-idempotent ones. A token POST carries a retry key, so it is
// retried like a GET after a timeout, a broken connection or a 502/503/504 (the fake
// backends simply run it again; the login tier would answer the repeat from its
// record); besides, after a failure the edge sends no POST to that backend or its
// cluster while another is clean (see suspectFor). The test measures and logs the time
// from the fault to the first ejection (passive or active).
func TestFaultInjection(t *testing.T) {
	tests := []struct {
		name   string
		inject func(tc *twoClusters)
		faulty []string // backend names; ejection of any counts
	}{
		{name: "backend answers 5xx", inject: func(tc *twoClusters) { tc.a2.setMode(mode5xx) }, faulty: []string{"a2"}},
		{name: "backend hangs", inject: func(tc *twoClusters) { tc.a2.setMode(modeHang) }, faulty: []string{"a2"}},
		{name: "15% of connections time out", inject: func(tc *twoClusters) { tc.a2.setMode(modeFlaky) }, faulty: []string{"a2"}},
		{name: "whole cluster answers 5xx", inject: func(tc *twoClusters) { tc.a1.setMode(mode5xx); tc.a2.setMode(mode5xx) },
			faulty: []string{"a1", "a2"}},
		{name: "whole cluster killed", inject: func(tc *twoClusters) {
			tc.a1.srv.CloseClientConnections()
			tc.a2.srv.CloseClientConnections()
			tc.a1.srv.Listener.Close()
			tc.a2.srv.Listener.Close()
			tc.a1.srv.CloseClientConnections()
			tc.a2.srv.CloseClientConnections()
		}, faulty: []string{"a1", "a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTwoClusters(t)
			te := startEdge(t, tc.routes(faultSettings), edgeOpts{})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if s := runLoad(ctx, te.client, te.public, 4, 200, 0.5); s.getFail+s.postFail != 0 {
				t.Fatalf("failures before the fault: %v", s.failures)
			}
			urls := map[string]bool{}
			for _, n := range tt.faulty {
				urls[map[string]*fakeBackend{"a1": tc.a1, "a2": tc.a2}[n].URL()] = true
			}
			faultAt := time.Now()
			tt.inject(tc)
			s := runMixed(ctx, te.client, te.public, 1, *faultPosts)
			elapsed := time.Since(faultAt)
			// Traffic goes on while the test waits for the ejection (passive detection
			// needs it); those GETs count too.
			waitCtx, stopWait := context.WithCancel(ctx)
			waited := make(chan *loadStats)
			go func() { waited <- runLoad(waitCtx, te.client, te.public, 1, 1<<30, 0) }()
			// The first event that takes a faulty backend or the cluster out, and, for a
			// cluster fault, when the last of its backends was out.
			var firstAt, allAt time.Time
			var how string
			waitFor(t, 10*time.Second, "the faulty backend or cluster to be taken out", func() bool {
				out := map[string]bool{}
				for _, ev := range te.events.list(0, KindHealth, 0) {
					if ev.At.Before(faultAt) || !(urls[ev.Target] || ev.Action == "eject_cluster" && ev.Target == "west/login-a") {
						continue
					}
					if firstAt.IsZero() {
						firstAt, how = ev.At, ev.Action+" ("+ev.Detail+")"
					}
					if ev.Action == "eject_cluster" {
						for u := range urls {
							out[u] = true
						}
					} else if ev.Action != "backend_healthy" && ev.Action != "return_backend" {
						out[ev.Target] = true
					}
					if len(out) == len(urls) && allAt.IsZero() {
						allAt = ev.At
					}
				}
				return !allAt.IsZero()
			})
			stopWait()
			s.merge(<-waited)
			if testing.Verbose() {
				for _, ev := range te.events.list(0, KindHealth, 0) {
					t.Logf("  %s %s %s %s", ev.At.Sub(faultAt).Round(time.Millisecond), ev.Action, ev.Target, ev.Detail)
				}
			}
			t.Logf("fault %q: %d GET (%d failed), %d POST (%d failed) in %s; first taken out after %s by %s; all faulty backends out after %s",
				tt.name, s.gets, s.getFail, s.posts, s.postFail, elapsed.Round(time.Millisecond),
				firstAt.Sub(faultAt).Round(time.Millisecond), how, allAt.Sub(faultAt).Round(time.Millisecond))
			if s.getFail != 0 {
				t.Errorf("%d idempotent requests failed during the fault: %v", s.getFail, s.failures)
			}
			if s.posts < *faultPosts || float64(s.postFail) >= 0.001*float64(s.posts) {
				t.Errorf("%d of %d non-idempotent requests failed (want under 0.1%%): %v", s.postFail, s.posts, s.failures)
			}
			if n := s.byBackend["a1"] + s.byBackend["a2"] + s.byBackend["b1"] + s.byBackend["b2"]; n == 0 {
				t.Fatalf("no successful request")
			}
			if strings.Contains(tt.name, "killed") && s.byBackend["east"] != 0 {
				t.Errorf("login traffic went to another region while a cluster of its own was up: %v", s.byBackend)
			}
		})
	}
}
