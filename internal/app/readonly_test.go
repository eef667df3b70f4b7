package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/pgtest"
)

// send makes one admin request with a JSON body and returns the status, the headers
// and the body.
func send(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func problemType(b []byte) string {
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Type
}

// TestReadOnlyPostgres: the explicit switch refuses writes and is shared through the
// NATS KV; with the primary stopped, admin writes get 503 read-only with Retry-After
// within a few seconds while reads are served from the replica and /readyz says
// read_only; with the primary back, writes work again. Waits are bounded polls; the
// assertions are on the answers, never on how long they took.
func TestReadOnlyPostgres(t *testing.T) {
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
	tok := cfg.BootstrapAdminToken.Reveal()
	admin := r.base + "/admin/v1"
	newTenant := func(slug string) (int, http.Header, []byte) {
		return send(t, "POST", admin+"/tenants", tok, `{"slug":"`+slug+`","display_name":"`+slug+`"}`)
	}
	if code, _, b := newTenant("acme"); code != http.StatusCreated {
		t.Fatalf("create tenant = %d %s", code, b)
	}

	// The explicit switch, held in the NATS control bucket.
	code, _, b := send(t, "PUT", admin+"/readonly", tok, `{"enabled":true,"reason":"failover drill"}`)
	var st struct {
		ReadOnly bool `json:"read_only"`
		Shared   bool `json:"shared"`
	}
	if err := json.Unmarshal(b, &st); err != nil || code != 200 || !st.ReadOnly || !st.Shared {
		t.Fatalf("switch on = %d %s", code, b)
	}
	if code, h, b := newTenant("beta"); code != 503 || problemType(b) != "urn:nines:problem:read-only" || h.Get("Retry-After") != "30" {
		t.Fatalf("write with the switch on = %d %v %s", code, h, b)
	}
	if code, rd := readyzBody(t, r.base); code != 200 || rd.Mode != "read_only" || !rd.ReadOnly {
		t.Fatalf("readyz with the switch on = %d %+v", code, rd)
	}
	if code, _, b := send(t, "PUT", admin+"/readonly", tok, `{"enabled":false}`); code != 200 {
		t.Fatalf("switch off = %d %s", code, b)
	}
	if code, _, b := newTenant("beta"); code != http.StatusCreated {
		t.Fatalf("write with the switch off = %d %s", code, b)
	}

	// The primary dies: automatic read-only mode.
	if err := cluster.StopPrimary(); err != nil {
		t.Fatal(err)
	}
	var h http.Header
	for range 400 {
		code, h, b = newTenant("gamma")
		if problemType(b) == "urn:nines:problem:read-only" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 503 || problemType(b) != "urn:nines:problem:read-only" || h.Get("Retry-After") != "5" {
		t.Fatalf("write with the primary down = %d %v %s", code, h, b)
	}
	if code, b := get(t, admin+"/tenants/acme", tok); code != 200 {
		t.Fatalf("read with the primary down = %d %s", code, b)
	}
	if code, b := get(t, admin+"/tenants", tok); code != 200 || !bytes.Contains(b, []byte(`"beta"`)) {
		t.Fatalf("list with the primary down = %d %s", code, b)
	}
	if code, rd := readyzBody(t, r.base); code != 200 || rd.Mode != "read_only" || !rd.ReadOnly {
		t.Fatalf("readyz with the primary down = %d %+v", code, rd)
	}

	// The primary is back: writes work again once it has stayed up.
	if err := cluster.StartPrimary(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 400 {
		if code, _, b = newTenant("gamma"); code == http.StatusCreated {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != http.StatusCreated {
		t.Fatalf("write with the primary back = %d %s", code, b)
	}
	if code, rd := readyzBody(t, r.base); code != 200 || rd.Mode != "normal" || rd.ReadOnly {
		t.Fatalf("readyz with the primary back = %d %+v", code, rd)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestReadyzReadOnly: read-only mode is reported, with its reason, and costs no
// readiness (the process still serves reads).
func TestReadyzReadOnly(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := &health{role: RoleAdmin,
		databases: func(context.Context) []store.DBHealth {
			return []store.DBHealth{{Name: "db:5432", Role: "primary", Error: "connection refused"},
				{Name: "r1:5432", Role: "replica", Healthy: true}}
		},
		mode: func() (string, string, time.Time) { return "read_only", "the primary database is unreachable", since }}
	h.set(phaseReady)
	mux := http.NewServeMux()
	h.mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body readiness
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || body.Status != "degraded" || body.Mode != "read_only" || !body.ReadOnly ||
		body.ModeWhy == "" || body.ModeSince == nil || !body.ModeSince.Equal(since) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}
