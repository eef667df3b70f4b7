package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidateNATSNode pins the nats role's rules (NATSNode, set by `nines serve
// --role=nats`): a member name, routes, listen addresses defaulting to the HTTP host,
// no database and no NATS client URL; and that no other role may set them.
func TestValidateNATSNode(t *testing.T) {
	node := func() Config {
		c := valid()
		c.NATSNode = true
		c.NATSName = "nats-1"
		c.NATSRoutes = []string{"127.0.0.1:6222", "127.0.0.1:6223", "127.0.0.1:6224"}
		return c
	}
	tests := []struct {
		name   string
		c      func() Config
		want   []string // settings with a problem, in order; nil = valid
		listen string   // the client and cluster listen addresses after Validate, when valid
	}{
		{name: "defaults from the http host", c: node, listen: "127.0.0.1:4222 127.0.0.1:6222 nines"},
		{name: "explicit addresses and cluster", c: func() Config {
			c := node()
			c.NATSListen, c.NATSClusterListen, c.NATSClusterName = "127.0.0.2:5222", "127.0.0.2:7222", "east"
			c.NATSRoutes = []string{" nats-route://127.0.0.2:7222 ", "", "nats://127.0.0.3:7222"}
			return c
		}, listen: "127.0.0.2:5222 127.0.0.2:7222 east"},
		{name: "no name", c: func() Config { c := node(); c.NATSName = ""; return c }, want: []string{"NINES_NATS_NAME"}},
		{name: "bad name", c: func() Config { c := node(); c.NATSName = "N 1"; return c }, want: []string{"NINES_NATS_NAME"}},
		{name: "bad cluster name", c: func() Config { c := node(); c.NATSClusterName = "-x"; return c }, want: []string{"NINES_NATS_CLUSTER_NAME"}},
		{name: "no routes", c: func() Config { c := node(); c.NATSRoutes = []string{" "}; return c }, want: []string{"NINES_NATS_ROUTES"}},
		{name: "bad routes", c: func() Config {
			c := node()
			c.NATSRoutes = []string{"127.0.0.1", "http://h:1", "h:0", "h:6222"}
			return c
		}, want: []string{"NINES_NATS_ROUTES", "NINES_NATS_ROUTES", "NINES_NATS_ROUTES"}},
		{name: "bad listen", c: func() Config { c := node(); c.NATSListen = "4222"; c.NATSClusterListen = "h:x"; return c },
			want: []string{"NINES_NATS_LISTEN", "NINES_NATS_CLUSTER_LISTEN"}},
		{name: "port clash", c: func() Config { c := node(); c.NATSClusterListen = "127.0.0.1:8080"; return c },
			want: []string{"NINES_NATS_CLUSTER_LISTEN"}},
		{name: "a database or a nats url", c: func() Config {
			c := node()
			c.DatabaseURL, c.NATSURL = "postgres://db/n", "nats://a:4222"
			return c
		}, want: []string{"NINES_DATABASE_URL", "NINES_NATS_URL"}},
		{name: "other roles may not set them", c: func() Config {
			c := node()
			c.NATSNode = false
			c.NATSListen, c.NATSClusterListen, c.NATSClusterName = "127.0.0.1:4222", "127.0.0.1:6222", "c"
			return c
		}, want: []string{"NINES_NATS_NAME", "NINES_NATS_CLUSTER_NAME", "NINES_NATS_LISTEN", "NINES_NATS_CLUSTER_LISTEN", "NINES_NATS_ROUTES"}},
		{name: "other roles: blank routes are not set", c: func() Config {
			c := valid()
			c.NATSRoutes = []string{""}
			return c
		}},
		{name: "with the other problems", c: func() Config {
			c := node()
			c.NATSName, c.LogLevel = "", "loud"
			return c
		}, want: []string{"NINES_LOG_LEVEL", "NINES_NATS_NAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c()
			for i := range 2 { // idempotent: the CLI validates twice
				err := c.Validate()
				if diff := cmp.Diff(tt.want, problemSettings(err)); diff != "" {
					t.Fatalf("Validate #%d: problems (-want +got):\n%s\nerror: %v", i+1, diff, err)
				}
				if tt.want == nil && err != nil {
					t.Fatalf("Validate #%d: %v", i+1, err)
				}
			}
			if tt.listen != "" {
				if got := strings.Join([]string{c.NATSListen, c.NATSClusterListen, c.NATSClusterName}, " "); got != tt.listen {
					t.Fatalf("listen addresses and cluster = %q, want %q", got, tt.listen)
				}
			}
		})
	}
}

// TestNATSNodeEnvKnown: the nats role's variables are known names, so the unknown-name
// check never reports them; it is the role rule that refuses them elsewhere.
func TestNATSNodeEnvKnown(t *testing.T) {
	c := valid()
	c.NATSNode, c.NATSName, c.NATSRoutes = true, "n1", []string{"127.0.0.1:6222"}
	c.Environ = []string{"NINES_NATS_NAME=n1", "NINES_NATS_ROUTES=127.0.0.1:6222", "NINES_NATS_LISTEN=", "NINES_NATS_CLUSTER_LISTEN=",
		"NINES_NATS_CLUSTER_NAME=", "NINES_NATS_ROTES=x"}
	if got := problemSettings(c.Validate()); !cmp.Equal(got, []string{"NINES_NATS_ROTES"}) {
		t.Fatalf("problems = %v, want only the misspelt NINES_NATS_ROTES", got)
	}
}
