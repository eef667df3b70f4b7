package lab

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleTopologies: the shipped lab files parse, and the default one is the size
// README documents.
func TestExampleTopologies(t *testing.T) {
	tests := []struct {
		file                                 string
		logins, nats, replicas, procs, edges int
	}{
		{file: "topology.yaml", logins: 12, nats: 3, replicas: 2, procs: 22, edges: 2},
		{file: "ci.yaml", logins: 2, nats: 3, replicas: 1, procs: 10, edges: 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			topo, err := LoadTopology(filepath.Join("..", "..", "examples", "lab", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			replicas := 0
			for _, r := range topo.Regions {
				replicas += r.Replicas
			}
			procs := topo.LoginProcesses() + topo.NATS + topo.Admins + topo.Workers + len(topo.Regions) + 1 + replicas
			if topo.LoginProcesses() != tt.logins || topo.NATS != tt.nats || replicas != tt.replicas ||
				procs != tt.procs || len(topo.Regions) != tt.edges {
				t.Fatalf("%s: %d logins, %d nats, %d replicas, %d processes, %d regions; want %d, %d, %d, %d, %d",
					tt.file, topo.LoginProcesses(), topo.NATS, replicas, procs, len(topo.Regions),
					tt.logins, tt.nats, tt.replicas, tt.procs, tt.edges)
			}
		})
	}
}

func TestParseTopologyProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, each must appear
	}{
		{name: "unknown field", yaml: "regions: [{name: r, zones: [z], clusters: [{name: c}]}]\nreplica: 2\n",
			want: []string{`unknown field "replica"`}},
		{name: "duplicate key", yaml: "name: a\nname: b\nregions: []\n", want: []string{"invalid YAML"}},
		{name: "no region", yaml: "name: x\n", want: []string{"at least one region"}},
		{name: "everything at once",
			yaml: "nats: 2\nusers: -1\nlog_level: loud\ntenant: Bad_Slug\n" +
				"regions:\n- name: r1\n  zones: [a, a]\n  clusters: [{name: r1}]\n  replicas: 9\n",
			want: []string{"nats: 2", "users: -1", "log_level", "tenant", `"a" is already used`, `"r1" is already used`, "replicas: 9"}},
		{name: "not a label", yaml: "regions: [{name: Region_1, zones: [z], clusters: [{name: c}]}]\n",
			want: []string{`"Region_1" is not a DNS label`}},
		{name: "too many processes", yaml: "regions: [{name: r, zones: [a, b, c, d, e, f], clusters: [" +
			strings.Repeat("{name: c1}, ", 0) + "{name: c1}, {name: c2}, {name: c3}, {name: c4}, {name: c5}, {name: c6}, " +
			"{name: c7}, {name: c8}, {name: c9}, {name: c10}, {name: c11}, {name: c12}, {name: c13}, {name: c14}, {name: c15}, {name: c16}, {name: c17}]}]\n",
			want: []string{"at most 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTopology([]byte(tt.yaml))
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseTopologyDefaults(t *testing.T) {
	topo, err := ParseTopology([]byte("regions: [{name: r, zones: [z], clusters: [{name: c}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := topo.Regions[0]
	if topo.Name != "lab" || topo.NATS != DefaultNATS || topo.Admins != 1 || topo.Workers != 1 || topo.Tenant != DefaultTenant ||
		topo.Users != DefaultUsers || topo.LogLevel != "info" || r.Replicas != 1 || r.Clusters[0].CapacityRPS != DefaultCapacityRPS {
		t.Fatalf("defaults: %+v", topo)
	}
}
