package config

import (
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/ninesid/nines/internal/edge/table"
)

// Edge role limits and defaults.
const (
	MinEdgeControlTokenLen = 32
	DefaultEdgeControlPort = 8081
)

// validateEdge checks the edge role's settings (Edge): the routing table (required, and
// it must parse: the edge refuses to start on a table it would refuse to reload), this
// edge's region (required, and a region of the table), the control API's token (at
// least MinEdgeControlTokenLen characters) and address (default: the host of
// NINES_HTTP_ADDR, port 8081; a listener of its own). The edge opens no database and no
// NATS, so their settings are refused for it. Other roles must not set the NINES_EDGE_*
// settings.
func (c *Config) validateEdge(ps *Problems) {
	if !c.Edge {
		for _, s := range []struct{ setting, value string }{
			{"NINES_EDGE_ROUTES", c.EdgeRoutes},
			{"NINES_EDGE_CONTROL_ADDR", c.EdgeControlAddr},
			{"NINES_EDGE_CONTROL_TOKEN", c.EdgeControlToken.Reveal()},
		} {
			if strings.TrimSpace(s.value) != "" {
				ps.add(s.setting, "only the edge role (serve --role=edge) reads it; unset it for this command")
			}
		}
		return
	}
	var tbl *table.Table
	if strings.TrimSpace(c.EdgeRoutes) == "" {
		ps.add("NINES_EDGE_ROUTES", "the edge needs its routing table: the path of a YAML file (see examples/edge/routes.yaml)")
	} else {
		t, err := table.Load(c.EdgeRoutes)
		var te *table.Error
		switch {
		case errors.As(err, &te):
			for _, p := range te.Problems {
				ps.add("NINES_EDGE_ROUTES", "%s: %s", c.EdgeRoutes, p)
			}
		case err != nil:
			ps.add("NINES_EDGE_ROUTES", "%s: %v", c.EdgeRoutes, err)
		}
		tbl = t
	}
	switch {
	case c.Region == "":
		ps.add("NINES_REGION", "the edge serves its own region's login clusters first: name its region")
	case tbl != nil && !tbl.HasRegion(c.Region):
		ps.add("NINES_REGION", "%q is not a region of any shard in the routing table", c.Region)
	}
	switch t := c.EdgeControlToken.Reveal(); {
	case t == "":
		ps.add("NINES_EDGE_CONTROL_TOKEN", "the traffic-control API needs a bearer token of at least %d characters", MinEdgeControlTokenLen)
	case len(t) < MinEdgeControlTokenLen:
		ps.add("NINES_EDGE_CONTROL_TOKEN", "must be at least %d characters (it has %d)", MinEdgeControlTokenLen, len(t))
	case strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		ps.add("NINES_EDGE_CONTROL_TOKEN", "must not contain spaces or control characters")
	}
	if c.EdgeControlAddr == "" {
		host := ""
		if h, _, err := net.SplitHostPort(c.HTTPAddr); err == nil {
			host = h
		}
		c.EdgeControlAddr = net.JoinHostPort(host, strconv.Itoa(DefaultEdgeControlPort))
	}
	if err := checkListenAddr(c.EdgeControlAddr); err != nil {
		ps.add("NINES_EDGE_CONTROL_ADDR", "%v", err)
	} else if sameListener(c.EdgeControlAddr, c.HTTPAddr) {
		ps.add("NINES_EDGE_CONTROL_ADDR", "%q is also NINES_HTTP_ADDR: the control API needs a listener of its own (keep it off the public network)", c.EdgeControlAddr)
	}
	if c.DatabaseURL != "" {
		ps.add("NINES_DATABASE_URL", "the edge role routes traffic and opens no database: unset it")
	}
	if len(c.ReplicaURLs) > 0 {
		ps.add("NINES_REPLICA_URLS", "the edge role routes traffic and opens no database: unset it")
	}
	if strings.TrimSpace(c.NATSURL) != "" {
		ps.add("NINES_NATS_URL", "the edge role routes traffic and uses no NATS: unset it")
	}
}

// sameListener reports whether two valid listen addresses name the same fixed port on
// the same host (port 0 is a new port each time, never a clash).
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa == "0" || pa != pb {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}
