package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/testenv"
)

const edgeTestToken = "edge-role-test-token-0123456789abcdef"

// edgeBackend answers like a login or admin process: /readyz 200, and every other path
// with its name, the path and the forwarding headers it saw.
func edgeBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"backend": name, "path": r.URL.Path,
			"xff": r.Header.Get("X-Forwarded-For"), "forwarded": r.Header.Get("Forwarded")})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func edgeConfig(t *testing.T, dataDir, routes, controlAddr string) config.Config {
	t.Helper()
	c := config.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: dataDir, LogLevel: "info", ShutdownTimeout: 5e9, Environ: []string{},
		Edge: true, EdgeRoutes: routes, EdgeControlAddr: controlAddr, EdgeControlToken: config.Secret(edgeTestToken),
		Region: "west",
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func edgeDo(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// TestEdgeRole runs `serve --role=edge` in process in front of two login backends and an
// admin backend: the proxy routes by tier, the public port has no /metrics, the control
// port has the token-protected API and the metrics, a drain is an audit line in the log
// and survives a restart of the edge on the same data directory.
func TestEdgeRole(t *testing.T) {
	a, b, adm := edgeBackend(t, "login-a"), edgeBackend(t, "login-b"), edgeBackend(t, "admin")
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	table := fmt.Sprintf(`
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: %q, zone: a}]}
        clusters:
          - {name: login-a, capacity_rps: 1000, backends: [{url: %q, zone: a}]}
          - {name: login-b, capacity_rps: 1000, backends: [{url: %q, zone: b}]}
tenants: {default_shard: us}
`, adm.URL, a.URL, b.URL)
	if err := os.WriteFile(routes, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	control := "http://" + testenv.FreeAddr(t)
	dataDir := filepath.Join(dir, "data")
	r := start(t, Options{Config: edgeConfig(t, dataDir, routes, strings.TrimPrefix(control, "http://")), Role: RoleEdge})

	code, _, raw := edgeDo(t, "GET", r.base+"/t/acme/authorize", "", "")
	var seen map[string]string
	if code != http.StatusOK || json.Unmarshal(raw, &seen) != nil || !strings.HasPrefix(seen["backend"], "login-") ||
		seen["xff"] != "127.0.0.1" || seen["path"] != "/t/acme/authorize" {
		t.Fatalf("login path: %d %s", code, raw)
	}
	if code, _, raw := edgeDo(t, "GET", r.base+"/admin/v1/tenants", "", ""); code != 200 || !strings.Contains(string(raw), `"backend":"admin"`) {
		t.Fatalf("admin path: %d %s", code, raw)
	}
	if code, hdr, raw := edgeDo(t, "GET", r.base+"/metrics", "", ""); code != 404 || hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("public /metrics: %d %s", code, raw)
	}
	if code, _, raw := edgeDo(t, "GET", r.base+"/readyz", "", ""); code != 200 || !strings.Contains(string(raw), `"own_region_serves":true`) {
		t.Fatalf("readyz: %d %s", code, raw)
	}
	if code, _, _ := edgeDo(t, "GET", control+"/v1/status", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("status without the token: %d", code)
	}
	if code, _, raw := edgeDo(t, "GET", control+"/metrics", "", ""); code != 200 ||
		!strings.Contains(string(raw), `nines_edge_backend_up{`) || !strings.Contains(string(raw), `role="edge"`) ||
		!strings.Contains(string(raw), `nines_http_requests_total{`) {
		t.Fatalf("control /metrics: %d\n%s", code, raw)
	}
	if code, _, raw := edgeDo(t, "POST", control+"/v1/drain", edgeTestToken, `{"cluster":"login-a","reason":"deploy"}`); code != 200 {
		t.Fatalf("drain: %d %s", code, raw)
	}
	for range 20 {
		if _, _, raw := edgeDo(t, "GET", r.base+"/t/acme/authorize", "", ""); !strings.Contains(string(raw), "login-b") {
			t.Fatalf("drained login-a still served: %s", raw)
		}
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	log := r.log.String()
	if !strings.Contains(log, `"audit":{"kind":"change","action":"drain_cluster","target":"west/login-a","result":"ok"`) {
		t.Fatalf("no audit line for the drain:\n%s", log)
	}
	if strings.Contains(log, edgeTestToken) {
		t.Fatal("the control token is in the log")
	}

	// A restarted edge on the same data directory keeps login-a drained.
	r2 := start(t, Options{Config: edgeConfig(t, dataDir, routes, strings.TrimPrefix(control, "http://")), Role: RoleEdge})
	code, _, raw = edgeDo(t, "GET", control+"/v1/status", edgeTestToken, "")
	if code != 200 || !strings.Contains(string(raw), `"drained_clusters":["west/login-a"]`) {
		t.Fatalf("status after restart: %d %s", code, raw)
	}
	if _, _, raw := edgeDo(t, "GET", r2.base+"/t/acme/login", "", ""); !strings.Contains(string(raw), "login-b") {
		t.Fatalf("after restart: %s", raw)
	}
}
