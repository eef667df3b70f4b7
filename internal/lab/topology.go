package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ninesid/nines/internal/tenant"
)

// Topology is a lab file (`nines lab up -f FILE`): what to run. Every region runs its
// clusters' login processes (one per zone per cluster), its PostgreSQL replicas and an
// edge; the first region is the primary: it also runs the PostgreSQL primary, the admin
// tier, the workers and the NATS members. examples/lab/topology.yaml is the default.
type Topology struct {
	// Name names the lab in the summary and the state file.
	Name string `json:"name"`
	// Regions in failover order; the first is the primary region.
	Regions []RegionSpec `json:"regions"`
	// NATS is the number of NATS JetStream members (`serve --role=nats`), spread over
	// the primary region's zones: 3 (the default and, for now, the only value: a
	// one-member cluster never establishes its routes, and the login tier's buckets are
	// R3).
	NATS int `json:"nats,omitempty"`
	// Admins and Workers are the admin and worker processes of the primary region
	// (default 1 each), spread over its zones.
	Admins  int `json:"admins,omitempty"`
	Workers int `json:"workers,omitempty"`
	// Tenant is the tenant the lab creates (default "lab"); Users how many test users
	// it gets (default 20).
	Tenant string `json:"tenant,omitempty"`
	Users  int    `json:"users,omitempty"`
	// LogLevel is every nines process's NINES_LOG_LEVEL (default "info").
	LogLevel string `json:"log_level,omitempty"`
}

// RegionSpec is one region of a lab file.
type RegionSpec struct {
	Name string `json:"name"`
	// Zones are the region's availability zones: every cluster runs one login process
	// in each.
	Zones    []string      `json:"zones"`
	Clusters []ClusterSpec `json:"clusters"`
	// Replicas is the number of PostgreSQL streaming replicas of the region (default 1),
	// spread over its zones. A secondary region's replicas stream from the primary.
	Replicas int `json:"replicas,omitempty"`
}

// ClusterSpec is one login cluster of a region.
type ClusterSpec struct {
	Name string `json:"name"`
	// CapacityRPS is what the edge's pre-scale check believes the cluster takes
	// (default 200 requests per second).
	CapacityRPS float64 `json:"capacity_rps,omitempty"`
}

// Defaults and limits of a lab file.
const (
	DefaultNATS        = 3
	DefaultTenant      = "lab"
	DefaultUsers       = 20
	DefaultCapacityRPS = 200
	MaxUsers           = 2000
	// maxProcesses bounds what one lab file may start (nines processes and PostgreSQL
	// servers), so that a typo cannot fork-bomb a laptop.
	maxProcesses = 100
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// TopologyError lists every problem of a lab file.
type TopologyError struct {
	File     string
	Problems []string
}

func (e *TopologyError) Error() string {
	return fmt.Sprintf("lab: %s: %d problem(s):\n  %s", e.File, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// LoadTopology reads, decodes strictly (unknown fields and duplicate keys are errors),
// fills the defaults of and validates the lab file at path.
func LoadTopology(path string) (Topology, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Topology{}, fmt.Errorf("lab: %w", err)
	}
	t, err := ParseTopology(raw)
	var te *TopologyError
	if errors.As(err, &te) {
		te.File = path
	}
	return t, err
}

// ParseTopology is LoadTopology on the file's contents.
func ParseTopology(raw []byte) (Topology, error) {
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return Topology{}, &TopologyError{Problems: []string{"invalid YAML: " + err.Error()}}
	}
	var t Topology
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return Topology{}, &TopologyError{Problems: []string{"invalid lab file: " + strings.TrimPrefix(err.Error(), "json: ")}}
	}
	t.defaults()
	if ps := t.validate(); len(ps) > 0 {
		return Topology{}, &TopologyError{Problems: ps}
	}
	return t, nil
}

func (t *Topology) defaults() {
	if t.Name == "" {
		t.Name = "lab"
	}
	if t.NATS == 0 {
		t.NATS = DefaultNATS
	}
	if t.Admins == 0 {
		t.Admins = 1
	}
	if t.Workers == 0 {
		t.Workers = 1
	}
	if t.Tenant == "" {
		t.Tenant = DefaultTenant
	}
	if t.Users == 0 {
		t.Users = DefaultUsers
	}
	if t.LogLevel == "" {
		t.LogLevel = "info"
	}
	for i := range t.Regions {
		r := &t.Regions[i]
		if r.Replicas == 0 {
			r.Replicas = 1
		}
		for j := range r.Clusters {
			if r.Clusters[j].CapacityRPS == 0 {
				r.Clusters[j].CapacityRPS = DefaultCapacityRPS
			}
		}
	}
}

func (t *Topology) validate() []string {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if !dnsLabel.MatchString(t.Name) {
		add("name: %q is not a DNS label (lower-case letters, digits, hyphens)", t.Name)
	}
	if len(t.Regions) == 0 {
		add("regions: at least one region is needed (the first is the primary)")
	}
	if t.NATS != 3 {
		add("nats: %d members; the lab's JetStream cluster has 3", t.NATS)
	}
	if t.Admins < 0 || t.Admins > 3 {
		add("admins: %d; 1 to 3", t.Admins)
	}
	if t.Workers < 0 || t.Workers > 3 {
		add("workers: %d; 1 to 3", t.Workers)
	}
	if !tenant.ValidSlug(t.Tenant) {
		add("tenant: %q is not a tenant slug", t.Tenant)
	}
	if t.Users < 0 || t.Users > MaxUsers {
		add("users: %d; 1 to %d", t.Users, MaxUsers)
	}
	switch t.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level: %q; debug, info, warn or error", t.LogLevel)
	}
	seen := map[string]string{} // every name shares one space: they name processes and proxies
	claim := func(at, name string) {
		if !dnsLabel.MatchString(name) {
			add("%s: %q is not a DNS label (lower-case letters, digits, hyphens)", at, name)
			return
		}
		if prev, ok := seen[name]; ok {
			add("%s: %q is already used at %s (region, zone and cluster names must all differ)", at, name, prev)
			return
		}
		seen[name] = at
	}
	procs := t.NATS + t.Admins + t.Workers + 1
	for i, r := range t.Regions {
		at := fmt.Sprintf("regions[%d]", i)
		claim(at+".name", r.Name)
		if len(r.Zones) == 0 || len(r.Zones) > 6 {
			add("%s.zones: %d zones; 1 to 6", at, len(r.Zones))
		}
		for j, z := range r.Zones {
			claim(fmt.Sprintf("%s.zones[%d]", at, j), z)
		}
		if len(r.Clusters) == 0 {
			add("%s.clusters: a region needs at least one login cluster", at)
		}
		for j, c := range r.Clusters {
			claim(fmt.Sprintf("%s.clusters[%d].name", at, j), c.Name)
			if c.CapacityRPS < 0 {
				add("%s.clusters[%d].capacity_rps: %v is negative", at, j, c.CapacityRPS)
			}
		}
		if r.Replicas < 0 || r.Replicas > 4 {
			add("%s.replicas: %d; 1 to 4 (the login tier reads replicas only)", at, r.Replicas)
		}
		procs += len(r.Zones)*len(r.Clusters) + r.Replicas + 1
	}
	if procs > maxProcesses {
		add("the file starts %d processes; at most %d", procs, maxProcesses)
	}
	return ps
}

// Primary is the primary region's spec.
func (t Topology) Primary() RegionSpec { return t.Regions[0] }

// LoginProcesses is the number of login processes the file starts.
func (t Topology) LoginProcesses() int {
	n := 0
	for _, r := range t.Regions {
		n += len(r.Zones) * len(r.Clusters)
	}
	return n
}
