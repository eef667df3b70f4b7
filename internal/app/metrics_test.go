package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/pgtest"
	"github.com/ninesid/nines/internal/store/postgres"
	"github.com/ninesid/nines/internal/store/sqlite"
)

// TestMetricsAllRole: the all role serves /metrics with its constant labels, the HTTP
// requests by route pattern, the command spool, the worker and the database; and its
// /readyz carries the commands entry.
func TestMetricsAllRole(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Region, cfg.Cluster, cfg.Zone = "eu", "c1", "eu-a"
	r := start(t, Options{Config: cfg})
	if code, rd := readyzBody(t, r.base); code != 200 || rd.Status != "ready" || rd.Commands == nil || rd.Commands.Depth != 0 {
		t.Fatalf("readyz = %d %+v commands %+v", code, rd, rd.Commands)
	}
	get(t, r.base+"/no/such/path-with-secret", "")
	code, body := get(t, r.base+"/metrics", "")
	text := string(body)
	const l = `cluster="c1",region="eu",role="all",zone="eu-a"`
	for _, want := range []string{
		`nines_http_requests_total{cluster="c1",code="200",region="eu",role="all",route="GET /readyz",zone="eu-a"} 1`,
		`nines_http_requests_total{cluster="c1",code="404",region="eu",role="all",route="unmatched",zone="eu-a"} 1`,
		`nines_http_request_duration_seconds_bucket{`,
		`nines_commands_spool_depth{` + l + `} 0`,
		`nines_commands_total{cluster="c1",outcome="published",region="eu",role="all",zone="eu-a"}`,
		`nines_worker_commands_total{cluster="c1",outcome="applied",region="eu",role="all",zone="eu-a"} 0`,
		`nines_database_up{cluster="c1",database=`,
		`go_goroutines{` + l + `}`,
		`process_resident_memory_bytes{` + l + `}`,
	} {
		if code != 200 || !strings.Contains(text, want) {
			t.Fatalf("/metrics %d lacks %q:\n%s", code, want, text)
		}
	}
	if strings.Contains(text, "secret") {
		t.Fatal("/metrics holds a raw request path")
	}
}

// TestReadyzSpool: a non-empty command spool makes the process degraded (200), never
// unready, and /readyz shows the spool's depth, oldest age and counters.
func TestReadyzSpool(t *testing.T) {
	healthy := []store.DBHealth{{Name: "r1:5432", Role: "replica", Healthy: true}}
	tests := []struct {
		name       string
		stats      *bus.Stats
		wantStatus string
	}{
		{"no publisher", nil, "ready"},
		{"empty spool", &bus.Stats{Published: 4}, "ready"},
		{"spooled commands", &bus.Stats{Depth: 2, OldestAgeSeconds: 12.5, Spooled: 2, Published: 4, BrokerDown: true}, "degraded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &health{role: RoleLogin, databases: func(context.Context) []store.DBHealth { return healthy }}
			if tt.stats != nil {
				h.commands = func() bus.Stats { return *tt.stats }
			}
			h.set(phaseReady)
			mux := http.NewServeMux()
			h.mount(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var body struct {
				Status   string          `json:"status"`
				Commands json.RawMessage `json:"commands"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusOK || body.Status != tt.wantStatus {
				t.Fatalf("readyz = %d %s, want 200 %s", rec.Code, rec.Body, tt.wantStatus)
			}
			if tt.stats == nil {
				if body.Commands != nil {
					t.Fatalf("a role without a publisher has a commands entry: %s", rec.Body)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(body.Commands, &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"depth", "oldest_age_seconds", "published", "spooled", "flushed", "dropped", "broker_down"} {
				if _, ok := got[k]; !ok {
					t.Errorf("commands entry lacks %q: %s", k, body.Commands)
				}
			}
			if got["depth"] != float64(tt.stats.Depth) || got["oldest_age_seconds"] != tt.stats.OldestAgeSeconds {
				t.Errorf("commands entry = %s, want %+v", body.Commands, *tt.stats)
			}
		})
	}
}

// TestReplicaLagSource: only a PostgreSQL backend reports replica lag.
func TestReplicaLagSource(t *testing.T) {
	if replicaLag(&postgres.Backend{}) == nil {
		t.Error("a PostgreSQL backend has no replica lag source")
	}
	if replicaLag(&sqlite.Backend{}) != nil {
		t.Error("SQLite has a replica lag source")
	}
}

// TestLoginRoleMetrics: the login role (replicas only, no primary) exports each
// replica's health and replay lag, measured on the replica, and its command spool; its
// /readyz has the commands entry.
func TestLoginRoleMetrics(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 2})
	db := cluster.NewDatabase(t)
	broker := startExternalNATS(t)
	cfg := loginConfig(t, db.ReplicaURLs, broker.url)
	cfg.Zone = "z1"
	r := startRole(t, "login", Options{Config: cfg, Role: RoleLogin})
	_, rd := pollLoginReadyz(t, r.base, func(_ int, rd readiness) bool { return rd.Status == "ready" })
	if rd.Commands == nil || rd.Commands.Depth != 0 {
		t.Fatalf("login readyz commands entry = %+v", rd.Commands)
	}
	var text string
	for i := 0; ; i++ {
		_, body := get(t, r.base+"/metrics", "")
		text = string(body)
		if strings.Count(text, "nines_database_replica_lag_seconds{") == 2 || i == loginPolls {
			break
		}
		time.Sleep(loginPollEvery)
	}
	const l = `cluster="",region="",role="login",zone="z1"`
	for _, want := range []string{
		"nines_database_replica_lag_seconds{",
		"nines_database_replica_replay_backlog_bytes{",
		`db_role="replica",region="",role="login",zone="z1"} 1`, // nines_database_up
		`nines_commands_spool_depth{` + l + `} 0`,
		`nines_http_requests_total{cluster="",code="200",region="",role="login",route="GET /readyz",zone="z1"}`,
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "nines_database_replica_lag_seconds{") != 2 || strings.Contains(text, `db_role="primary"`) {
		t.Fatalf("/metrics: want the lag of both replicas and no primary:\n%s", text)
	}
	if strings.Contains(text, "nines_worker_commands_total") {
		t.Fatal("the login role exports worker counters; it runs no worker")
	}
}
