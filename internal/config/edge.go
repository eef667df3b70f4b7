package config

import "strings"

// validateEdge checks the edge role's settings (Edge). Other roles must not set them.
// The edge role's own checks (routing file, control address and token) are filled in
// with the edge.
func (c *Config) validateEdge(ps *Problems) {
	if c.Edge {
		return
	}
	for _, s := range []struct{ setting, value string }{
		{"NINES_EDGE_ROUTES", c.EdgeRoutes},
		{"NINES_EDGE_CONTROL_ADDR", c.EdgeControlAddr},
		{"NINES_EDGE_CONTROL_TOKEN", c.EdgeControlToken.Reveal()},
	} {
		if strings.TrimSpace(s.value) != "" {
			ps.add(s.setting, "only the edge role (serve --role=edge) reads it; unset it for this command")
		}
	}
}
