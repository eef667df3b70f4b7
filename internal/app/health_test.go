package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ninesid/nines/internal/store"
)

func TestReadyz(t *testing.T) {
	primary := store.DBHealth{Name: "db:5432", Role: "primary", Healthy: true}
	replica := store.DBHealth{Name: "r1:5432", Role: "replica", Healthy: true}
	deadReplica := store.DBHealth{Name: "r2:5432", Role: "replica", Error: "connection refused"}
	deadPrimary := store.DBHealth{Name: "db:5432", Role: "primary", Error: "connection refused"}
	tests := []struct {
		name       string
		phase      phase
		dbs        []store.DBHealth
		wantCode   int
		wantStatus string
		wantDBs    int
	}{
		{name: "starting", phase: phaseStarting, dbs: []store.DBHealth{primary}, wantCode: 503, wantStatus: "starting"},
		{name: "ready", phase: phaseReady, dbs: []store.DBHealth{primary, replica}, wantCode: 200, wantStatus: "ready", wantDBs: 2},
		{name: "replica down stays ready", phase: phaseReady, dbs: []store.DBHealth{primary, replica, deadReplica}, wantCode: 200, wantStatus: "degraded", wantDBs: 3},
		{name: "primary down replicas up", phase: phaseReady, dbs: []store.DBHealth{deadPrimary, replica}, wantCode: 200, wantStatus: "degraded", wantDBs: 2},
		{name: "every database down", phase: phaseReady, dbs: []store.DBHealth{deadPrimary, deadReplica}, wantCode: 503, wantStatus: "unavailable", wantDBs: 2},
		{name: "no database", phase: phaseReady, dbs: nil, wantCode: 503, wantStatus: "unavailable"},
		{name: "shutting down", phase: phaseShuttingDown, dbs: []store.DBHealth{primary}, wantCode: 503, wantStatus: "shutting_down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &health{role: RoleAdmin, region: "eu", cluster: "c1", zone: "eu-a",
				databases: func(context.Context) []store.DBHealth { return tt.dbs }}
			h.set(tt.phase)
			mux := http.NewServeMux()
			h.mount(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var body readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.wantCode || body.Status != tt.wantStatus || len(body.Databases) != tt.wantDBs {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if body.Role != RoleAdmin || body.Region != "eu" || body.Cluster != "c1" || body.Zone != "eu-a" ||
				body.Mode != "normal" || body.ReadOnly {
				t.Fatalf("labels: %s", rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatal("readyz must not be cached")
			}
		})
	}
}
