package app

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store/pgtest"
)

// TestServePostgres runs role all against a real PostgreSQL primary with a streaming
// replica: it migrates at start, the bootstrap token works, and when the replica dies
// /readyz lists it with its error but the process stays ready.
func TestServePostgres(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{Replicas: 1})
	db := cluster.NewDatabase(t)
	cfg := testConfig(t, t.TempDir())
	cfg.DatabaseURL, cfg.ReplicaURLs = db.PrimaryURL, db.ReplicaURLs
	cfg.KEK = testKEK
	cfg.BootstrapAdminToken = "postgres-bootstrap-token-0123456789abcdef"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := start(t, Options{Config: cfg})

	if code, body := get(t, r.base+"/admin/v1/tenants", cfg.BootstrapAdminToken.Reveal()); code != 200 {
		t.Fatalf("GET tenants = %d %s", code, body)
	}
	// Waits are bounded polls for the replica prober; the assertions are on what
	// /readyz says, never on how long it took.
	poll := func(until func(readiness) bool) (int, readiness) {
		var rd readiness
		var code int
		for range 200 {
			var body []byte
			code, body = get(t, r.base+"/readyz", "")
			if err := json.Unmarshal(body, &rd); err != nil {
				t.Fatalf("readyz body %s: %v", body, err)
			}
			if until(rd) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		return code, rd
	}
	if code, rd := poll(func(rd readiness) bool { return rd.Status == "ready" }); code != 200 || rd.Status != "ready" {
		t.Fatalf("readyz with every database up = %d %+v", code, rd)
	}
	if err := cluster.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	code, rd := poll(func(rd readiness) bool { return rd.Status != "ready" })
	if code != 200 || rd.Status != "degraded" || len(rd.Databases) != 2 {
		t.Fatalf("readyz with a dead replica = %d %+v", code, rd)
	}
	for _, d := range rd.Databases {
		if d.Role == "replica" && (d.Healthy || d.Error == "") {
			t.Fatalf("dead replica reported as %+v", d)
		}
		if d.Role == "primary" && !d.Healthy {
			t.Fatalf("primary reported as %+v", d)
		}
		if strings.Contains(d.Name, "@") {
			t.Fatalf("database name %q may carry credentials", d.Name)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if strings.Contains(r.log.String(), cfg.BootstrapAdminToken.Reveal()) {
		t.Fatal("log leaks the bootstrap token")
	}
}

// TestMigrateThenAdminPostgres: role admin does not migrate PostgreSQL by itself
// (`nines migrate` is the deploy step); after Migrate it serves.
func TestMigrateThenAdminPostgres(t *testing.T) {
	cluster := pgtest.Start(t, pgtest.Options{})
	db := cluster.NewDatabase(t)
	cfg := testConfig(t, t.TempDir())
	cfg.DatabaseURL = db.PrimaryURL
	cfg.KEK = testKEK
	cfg.BootstrapAdminToken = "postgres-bootstrap-token-0123456789abcdef"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// Before migrating, the admin role cannot start: the schema is missing.
	err := Run(t.Context(), Options{Config: cfg, Role: RoleAdmin, Log: io.Discard, Console: io.Discard})
	if err == nil || !strings.Contains(err.Error(), `relation "tenants" does not exist`) {
		t.Fatalf("admin role on an unmigrated database: %v", err)
	}

	var log bytes.Buffer
	for i := range 2 { // migrating twice is a no-op the second time
		if err := Migrate(t.Context(), cfg, &log); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if !strings.Contains(log.String(), `"msg":"migrations applied"`) {
		t.Fatalf("migrate log:\n%s", log.String())
	}
	r := start(t, Options{Config: cfg, Role: RoleAdmin})
	if code, body := get(t, r.base+"/admin/v1/tenants", cfg.BootstrapAdminToken.Reveal()); code != 200 {
		t.Fatalf("GET tenants = %d %s", code, body)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// testKEK is a fixed key-encryption key (base64 of 32 bytes) for PostgreSQL-backed runs,
// which refuse to start without one.
const testKEK = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
