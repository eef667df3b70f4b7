package lab

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/ninesid/nines/internal/edge/table"
)

// edgeTable is the routing table of one edge: the lab's one shard, every region with
// its clusters' login processes and (primary region) the admin processes, each reached
// through a proxy of this edge, and every region's edge control API (this edge's own
// directly, the others through proxies) for the pre-scale check.
func (p *plan) edgeTable(e *component) (*table.Table, error) {
	caller := e.Name
	tbl := &table.Table{Tenants: table.Tenants{DefaultShard: p.topo.Name}}
	shard := table.Shard{Name: p.topo.Name}
	for i, rs := range p.topo.Regions {
		r := table.Region{Name: rs.Name, Primary: i == 0}
		for _, other := range p.topo.Regions {
			if other.Name != rs.Name {
				r.Failover = append(r.Failover, other.Name)
			}
		}
		peer := p.edges[rs.Name]
		if peer == e {
			r.Edges = []string{e.edgeCtlURL}
		} else {
			l, err := p.proxy(caller, KindEdge, e.Region, "", peer, KindEdge, peer.ctlPort)
			if err != nil {
				return nil, err
			}
			r.Edges = []string{"http://" + l}
		}
		if i == 0 {
			r.Admin = &table.Pool{}
			for _, a := range p.ofKind(KindAdmin) {
				l, err := p.proxy(caller, KindEdge, e.Region, "", a, KindAdmin, a.port)
				if err != nil {
					return nil, err
				}
				r.Admin.Backends = append(r.Admin.Backends, table.Backend{URL: "http://" + l, Zone: a.Zone})
			}
		}
		for _, cs := range rs.Clusters {
			c := table.Cluster{Name: cs.Name, CapacityRPS: cs.CapacityRPS}
			for _, l := range p.ofKind(KindLogin) {
				if l.Cluster != cs.Name {
					continue
				}
				addr, err := p.proxy(caller, KindEdge, e.Region, "", l, KindLogin, l.port)
				if err != nil {
					return nil, err
				}
				// The process's name is its instance tag (NINES_INSTANCE_TAG): the edge
				// keeps a flow on the process whose tag its artifacts carry.
				c.Backends = append(c.Backends, table.Backend{URL: "http://" + addr, Zone: l.Zone, Instance: l.Name})
			}
			r.Clusters = append(r.Clusters, c)
		}
		shard.Regions = append(shard.Regions, r)
	}
	tbl.Shards = []table.Shard{shard}
	return tbl, nil
}

// writeEdgeTable writes e's routing file after checking that the edge will take it.
func (p *plan) writeEdgeTable(e *component) error {
	tbl, err := p.edgeTable(e)
	if err != nil {
		return err
	}
	b, err := yaml.Marshal(tbl)
	if err != nil {
		return fmt.Errorf("lab: routing table: %w", err)
	}
	b = append([]byte("# Written by `nines lab up` for "+e.Name+": every backend is a Toxiproxy proxy of this edge.\n"), b...)
	if _, err := table.Parse(b); err != nil {
		return fmt.Errorf("lab: the routing table made for %s is refused: %w", e.Name, err)
	}
	return os.WriteFile(p.routesPath(e), b, 0o600)
}
