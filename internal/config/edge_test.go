package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const edgeRoutes = `
shards:
  - name: us
    regions:
      - name: west
        primary: true
        admin: {backends: [{url: "http://127.0.0.1:9000", zone: a}]}
        clusters:
          - {name: login-a, capacity_rps: 100, backends: [{url: "http://127.0.0.1:9001", zone: a}]}
tenants: {default_shard: us}
`

// TestValidateEdge pins the edge role's rules (Edge, set by `nines serve --role=edge`):
// a routing table that parses, a region of it, a long control token, a control address
// of its own defaulting to the HTTP host, no database and no NATS; and that no other
// role may set the NINES_EDGE_* settings.
func TestValidateEdge(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(routes, []byte(edgeRoutes), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(edgeRoutes, "capacity_rps: 100", "capacity_rps: 0", 1)+"hosts: {X: acme}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	edge := func() Config {
		c := valid()
		c.Edge, c.EdgeRoutes, c.Region = true, routes, "west"
		c.EdgeControlToken = Secret(strings.Repeat("c", 32))
		return c
	}
	tests := []struct {
		name    string
		c       func() Config
		want    []string // settings with a problem, in order; nil = valid
		control string   // EdgeControlAddr after Validate, when valid
		detail  string   // in the error
	}{
		{name: "control address from the http host", c: edge, control: "127.0.0.1:8081"},
		{name: "explicit control address", c: func() Config { c := edge(); c.EdgeControlAddr = "127.0.0.2:9999"; return c },
			control: "127.0.0.2:9999"},
		{name: "port 0 twice is fine", c: func() Config { c := edge(); c.HTTPAddr, c.EdgeControlAddr = "127.0.0.1:0", "127.0.0.1:0"; return c },
			control: "127.0.0.1:0"},
		{name: "no routes", c: func() Config { c := edge(); c.EdgeRoutes = " "; return c }, want: []string{"NINES_EDGE_ROUTES"}},
		{name: "missing routes file", c: func() Config { c := edge(); c.EdgeRoutes = filepath.Join(dir, "nope.yaml"); return c },
			want: []string{"NINES_EDGE_ROUTES"}, detail: "cannot read the file"},
		{name: "bad routes file, every problem", c: func() Config { c := edge(); c.EdgeRoutes = bad; return c },
			want: []string{"NINES_EDGE_ROUTES", "NINES_EDGE_ROUTES"}, detail: "capacity_rps"},
		{name: "no region", c: func() Config { c := edge(); c.Region = ""; return c }, want: []string{"NINES_REGION"}},
		{name: "region not in the table", c: func() Config { c := edge(); c.Region = "east"; return c }, want: []string{"NINES_REGION"}},
		{name: "no token", c: func() Config { c := edge(); c.EdgeControlToken = ""; return c }, want: []string{"NINES_EDGE_CONTROL_TOKEN"}},
		{name: "short token", c: func() Config { c := edge(); c.EdgeControlToken = "short"; return c },
			want: []string{"NINES_EDGE_CONTROL_TOKEN"}, detail: "it has 5"},
		{name: "token with a space", c: func() Config { c := edge(); c.EdgeControlToken = Secret(strings.Repeat("c", 32) + " x"); return c },
			want: []string{"NINES_EDGE_CONTROL_TOKEN"}},
		{name: "control address is the http address", c: func() Config { c := edge(); c.EdgeControlAddr = "127.0.0.1:8080"; return c },
			want: []string{"NINES_EDGE_CONTROL_ADDR"}},
		{name: "control address on the wildcard of the http port", c: func() Config { c := edge(); c.EdgeControlAddr = ":8080"; return c },
			want: []string{"NINES_EDGE_CONTROL_ADDR"}},
		{name: "bad control address", c: func() Config { c := edge(); c.EdgeControlAddr = "8081"; return c },
			want: []string{"NINES_EDGE_CONTROL_ADDR"}},
		{name: "a database, replicas or nats", c: func() Config {
			c := edge()
			c.DatabaseURL, c.ReplicaURLs, c.NATSURL = "postgres://db/n", []string{"postgres://r/n"}, "nats://a:4222"
			return c
		}, want: []string{"NINES_DATABASE_URL", "NINES_REPLICA_URLS", "NINES_NATS_URL"}},
		{name: "other roles may not set them", c: func() Config {
			c := valid()
			c.EdgeRoutes, c.EdgeControlAddr, c.EdgeControlToken = routes, "127.0.0.1:8081", Secret(strings.Repeat("c", 32))
			return c
		}, want: []string{"NINES_EDGE_ROUTES", "NINES_EDGE_CONTROL_ADDR", "NINES_EDGE_CONTROL_TOKEN"}},
		{name: "with the other problems", c: func() Config { c := edge(); c.LogLevel = "loud"; c.EdgeControlToken = ""; return c },
			want: []string{"NINES_LOG_LEVEL", "NINES_EDGE_CONTROL_TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c()
			for i := range 2 { // idempotent: the CLI validates twice
				err := c.Validate()
				if diff := cmp.Diff(tt.want, problemSettings(err)); diff != "" {
					t.Fatalf("Validate #%d: problems (-want +got):\n%s\nerror: %v", i+1, diff, err)
				}
				if err != nil && (!strings.Contains(err.Error(), tt.detail) || strings.Contains(err.Error(), strings.Repeat("c", 32))) {
					t.Fatalf("error lacks %q or shows the token: %v", tt.detail, err)
				}
			}
			if tt.control != "" && c.EdgeControlAddr != tt.control {
				t.Fatalf("control address %q, want %q", c.EdgeControlAddr, tt.control)
			}
		})
	}
}
