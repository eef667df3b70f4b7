package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Defaults of the nats role's settings.
const (
	DefaultNATSClusterName = "nines"
	DefaultNATSClientPort  = 4222
	DefaultNATSClusterPort = 6222
)

// natsNodeSettings are the settings only the nats role reads, with their values.
func (c *Config) natsNodeSettings() []struct{ setting, value string } {
	return []struct{ setting, value string }{
		{"NINES_NATS_NAME", c.NATSName},
		{"NINES_NATS_CLUSTER_NAME", c.NATSClusterName},
		{"NINES_NATS_LISTEN", c.NATSListen},
		{"NINES_NATS_CLUSTER_LISTEN", c.NATSClusterListen},
		{"NINES_NATS_ROUTES", strings.Join(c.NATSRoutes, ",")},
	}
}

// validateNATSNode checks the nats role's settings (NATSNode): a unique member name,
// two listen addresses that default to the HTTP host with the standard NATS ports, and
// the routes to the members. Other roles must not set them: a login process given
// NINES_NATS_ROUTES is a misunderstanding (it is a client: NINES_NATS_URL), better
// reported than ignored. The nats role is a broker only, so the settings of a client of
// the broker or of the database are refused there the same way.
func (c *Config) validateNATSNode(ps *Problems) {
	routes := c.NATSRoutes[:0:0]
	for _, r := range c.NATSRoutes {
		if r = strings.TrimSpace(r); r != "" {
			routes = append(routes, r)
		}
	}
	c.NATSRoutes = routes
	if !c.NATSNode {
		for _, s := range c.natsNodeSettings() {
			if strings.TrimSpace(s.value) != "" {
				ps.add(s.setting, "only the nats role (serve --role=nats) reads it; unset it for this command")
			}
		}
		return
	}
	host := ""
	if h, _, err := net.SplitHostPort(c.HTTPAddr); err == nil {
		host = h
	}
	if c.NATSClusterName == "" {
		c.NATSClusterName = DefaultNATSClusterName
	}
	if c.NATSListen == "" {
		c.NATSListen = net.JoinHostPort(host, strconv.Itoa(DefaultNATSClientPort))
	}
	if c.NATSClusterListen == "" {
		c.NATSClusterListen = net.JoinHostPort(host, strconv.Itoa(DefaultNATSClusterPort))
	}
	switch {
	case c.NATSName == "":
		ps.add("NINES_NATS_NAME", "a NATS cluster member needs a server name of its own (e.g. nats-1)")
	case !dnsLabel.MatchString(c.NATSName):
		ps.add("NINES_NATS_NAME", "%q is not a DNS label (lower-case letters, digits and '-')", c.NATSName)
	}
	if !dnsLabel.MatchString(c.NATSClusterName) {
		ps.add("NINES_NATS_CLUSTER_NAME", "%q is not a DNS label (lower-case letters, digits and '-')", c.NATSClusterName)
	}
	if err := checkListenAddr(c.NATSListen); err != nil {
		ps.add("NINES_NATS_LISTEN", "%v", err)
	}
	if err := checkListenAddr(c.NATSClusterListen); err != nil {
		ps.add("NINES_NATS_CLUSTER_LISTEN", "%v", err)
	}
	c.checkPortClash(ps)
	if len(routes) == 0 {
		ps.add("NINES_NATS_ROUTES", "list the route addresses of the cluster's members (host:port of each NINES_NATS_CLUSTER_LISTEN)")
	}
	for i, r := range routes {
		if err := checkRoute(r); err != nil {
			ps.add("NINES_NATS_ROUTES", "entry %d: %v", i+1, err)
		}
	}
	if c.DatabaseURL != "" {
		ps.add("NINES_DATABASE_URL", "the nats role runs a NATS server only and opens no database: unset it")
	}
	if len(c.ReplicaURLs) > 0 {
		ps.add("NINES_REPLICA_URLS", "the nats role runs a NATS server only and opens no database: unset it")
	}
	if strings.TrimSpace(c.NATSURL) != "" {
		ps.add("NINES_NATS_URL", "the nats role is a NATS server, not a client of one: give its peers in NINES_NATS_ROUTES")
	}
}

// checkPortClash reports two of the process's listeners on one fixed port of one host.
func (c *Config) checkPortClash(ps *Problems) {
	seen := map[string]string{}
	for _, l := range []struct{ setting, addr string }{
		{"NINES_HTTP_ADDR", c.HTTPAddr}, {"NINES_NATS_LISTEN", c.NATSListen}, {"NINES_NATS_CLUSTER_LISTEN", c.NATSClusterListen},
	} {
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil || port == "0" {
			continue
		}
		key := host + "|" + port
		if prev, ok := seen[key]; ok {
			ps.add(l.setting, "%q is also %s: each listener needs its own port", l.addr, prev)
			continue
		}
		seen[key] = l.setting
	}
}

// checkRoute accepts host:port, nats-route://host:port or nats://host:port, with a
// non-zero port.
func checkRoute(r string) error {
	s := r
	if !strings.Contains(s, "://") {
		s = "nats-route://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not host:port or a nats-route:// URL", r)
	case u.Scheme != "nats-route" && u.Scheme != "nats":
		return fmt.Errorf("%q: the scheme must be nats-route:// (or nats://)", r)
	case u.Hostname() == "" || u.Port() == "":
		return fmt.Errorf("%q needs a host and a port", r)
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 1 to 65535", r)
	}
	return nil
}
