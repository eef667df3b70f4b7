package lab

import (
	"net"
	"os"
	"strconv"
	"strings"
)

// setStatus records the lab's status (State.Status) and writes the State.
func (s *supervisor) setStatus(status string) {
	s.mu.Lock()
	s.st.Status = status
	s.mu.Unlock()
	if err := s.writeState(); err != nil {
		s.logf("write state: %v", err)
	}
}

// state is the State as of now: the fixed fields and every process's current PID.
func (s *supervisor) state() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked()
}

func (s *supervisor) stateLocked() State {
	st := s.st
	if s.p == nil {
		return st
	}
	p := s.p
	st.Regions = nil
	st.PublicURL = p.publicURL()
	issuer := st.PublicURL + "/t/" + s.topo.Tenant // one issuer: every region's login tier has the public URL
	for i, rs := range s.topo.Regions {
		e := p.edges[rs.Name]
		r := Region{Name: rs.Name, Primary: i == 0, EdgeURL: e.edgeURL, EdgeCtl: strings.TrimPrefix(e.edgeCtlURL, "http://"),
			Zones: rs.Zones, Issuer: issuer}
		for _, cs := range rs.Clusters {
			cl := Cluster{Name: cs.Name}
			for _, l := range p.ofKind(KindLogin) {
				if l.Cluster == cs.Name {
					cl.LoginURL = append(cl.LoginURL, "http://"+proxyListen(p.proxies, e.Name+"."+l.Name))
				}
			}
			r.Clusters = append(r.Clusters, cl)
		}
		st.Regions = append(st.Regions, r)
	}
	st.AdminURL = p.edges[s.topo.Primary().Name].edgeURL
	st.NATSURLs = nil
	for _, m := range p.nats {
		st.NATSURLs = append(st.NATSURLs, "nats://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(m.natsPort)))
	}
	st.Proxies = append([]Proxy(nil), p.proxies...)
	st.Processes, st.Databases = nil, nil
	for _, c := range p.comps {
		pr := c.Process
		pr.PID = c.child.pid()
		st.Processes = append(st.Processes, pr)
		if c.Kind == KindPostgres {
			st.Databases = append(st.Databases, Database{Name: c.Name, Region: c.Region, Primary: c == p.primary,
				URL: c.pg.url(pgDatabase), DataDir: c.pg.dataDir})
		}
	}
	return st
}

func proxyListen(ps []Proxy, name string) string {
	for _, p := range ps {
		if p.Name == name {
			return p.Listen
		}
	}
	return ""
}

// writeState writes the current State (unless the directory is gone).
func (s *supervisor) writeState() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Dir == "" {
		return nil
	}
	if _, err := os.Stat(s.st.Dir); err != nil {
		return err
	}
	return WriteState(s.stateLocked())
}
