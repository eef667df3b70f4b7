// Package lab runs the whole nines production topology on one machine, injects faults
// into it, loads it and scores it (issue 6; README "Reliability").
//
// `nines lab up` writes a State file (StateFile under the lab directory); `lab load`,
// `lab chaos` and `lab down` read it. The State is the contract between the parts.
//
// `lab up` (up.go) is a supervisor process: it starts PostgreSQL, NATS and every nines
// role as child processes on 127.0.0.1, wires every connection between them through
// Toxiproxy proxies it embeds, and stops them all on `lab down`. It must never listen
// on anything but loopback, signal a process that is not the lab's (a reused PID), or
// leave a process behind: children die with the supervisor (parent-death signal), and
// the next `lab up` or `lab down` cleans what a crash left on disk.
package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the state file in a lab directory.
const StateFile = "lab.json"

// State is what a running lab is: where to send traffic, who to authenticate as, and
// every process and proxy it started.
type State struct {
	Name      string    `json:"name"`
	Dir       string    `json:"dir"` // the lab directory (absolute)
	StartedAt time.Time `json:"started_at"`

	// PublicURL is the lab's one public base URL, as a public host name served in every
	// region (GeoDNS, anycast) would be: every login, admin and edge process has it as
	// NINES_PUBLIC_URL, so the tenant's issuer is the same in every region. It is the
	// primary region's edge address, so that a client that dials what it says (curl, a
	// browser) reaches the lab; the load of another region keeps the URL and dials that
	// region's edge (Target.Dial).
	PublicURL string `json:"public_url,omitempty"`
	// Regions in failover order; the first is the primary region.
	Regions []Region `json:"regions"`
	// AdminURL is the admin API as end users' tools reach it (through the primary
	// region's edge when there is one).
	AdminURL   string `json:"admin_url"`
	AdminToken string `json:"admin_token"` // a global admin API token (the lab's own; never reuse outside)
	// EdgeControlToken authenticates `nines ctl edge …` against every edge of the lab.
	EdgeControlToken string `json:"edge_control_token,omitempty"`

	// The tenant, application and users the load signs in with.
	Tenant      string     `json:"tenant"`
	Client      Client     `json:"client"`
	Users       []User     `json:"users"`
	NATSURLs    []string   `json:"nats_urls"`
	Toxiproxy   string     `json:"toxiproxy"` // host:port of the embedded Toxiproxy API
	Proxies     []Proxy    `json:"proxies"`
	Processes   []Process  `json:"processes"`
	Databases   []Database `json:"databases"`
	SupervisorP int        `json:"supervisor_pid,omitempty"` // the `lab up` process when it stays in the foreground (or the background supervisor `lab up --detach` starts)

	// Fields added by `lab up` (internal/lab/up.go); none of the above changed meaning.

	// Status is StatusStarting while `lab up` starts the topology (the processes listed
	// so far are running), StatusReady once everything answers and the tenant, client
	// and users exist, StatusStopping once `down` (or a signal) began.
	Status string `json:"status"`
	// Binary is the nines executable every process of the lab runs.
	Binary string `json:"binary"`
	// Topology is the lab file `lab up` read (absolute path).
	Topology string `json:"topology"`
	// Control is the supervisor's process-control API (host:port; bearer
	// ControlToken): GET /v1/processes, POST /v1/processes/{name}/kill|stop|start.
	// Control.go has Go helpers (KillProcess, StopProcess, StartProcess).
	Control      string `json:"control"`
	ControlToken string `json:"control_token"`
}

// Values of State.Status.
const (
	StatusStarting = "starting"
	StatusReady    = "ready"
	StatusStopping = "stopping"
)

// Region is one region of the lab.
type Region struct {
	Name    string `json:"name"`
	Primary bool   `json:"primary"`
	// EdgeURL is the address of the region's edge (http://127.0.0.1:port): where the
	// public host name leads the region's users, as GeoDNS would. The primary region's
	// is also the lab's PublicURL.
	EdgeURL  string    `json:"edge_url,omitempty"`
	EdgeCtl  string    `json:"edge_ctl,omitempty"` // its traffic-control API (host:port)
	Clusters []Cluster `json:"clusters"`
	// Added by `lab up`:
	Zones []string `json:"zones"`
	// Issuer is the lab tenant's issuer as this region's login processes name it:
	// PublicURL + "/t/" + Tenant, the same in every region (every login process has the
	// lab's PublicURL as its public URL), whichever region's edge a request entered.
	// A state written before the lab had one public URL has each region's EdgeURL here.
	Issuer string `json:"issuer,omitempty"`
}

// Cluster is one login cluster of a region.
type Cluster struct {
	Name     string   `json:"name"`
	LoginURL []string `json:"login_urls"` // the cluster's login processes, as the edge reaches them (through their zone's proxy)
}

// Client is the OIDC client registered for the load.
type Client struct {
	ID          string `json:"client_id"`
	Secret      string `json:"client_secret"`
	RedirectURI string `json:"redirect_uri"`
}

// User is a test user of the tenant.
type User struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Proxy is one Toxiproxy proxy between two components, labelled with the zone of the
// component it leads to (faults are injected per zone).
type Proxy struct {
	Name     string `json:"name"`
	Zone     string `json:"zone"`
	Region   string `json:"region"`
	From     string `json:"from"` // the caller's kind: edge, login, worker, admin…
	To       string `json:"to"`   // the callee's kind: login, replica, primary, nats…
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	// Added by `lab up`: where the caller runs. A zone's processes share their proxies
	// (login-euw-a.pg-eu-west-1), so FromZone is the caller's zone; it is empty for a
	// caller without a zone (an edge). A degraded zone Z is every proxy with Zone == Z
	// or FromZone == Z.
	FromZone   string `json:"from_zone,omitempty"`
	FromRegion string `json:"from_region,omitempty"`
}

// Process is one process the lab started.
type Process struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // nines role (login, admin, worker, edge, nats) or postgres
	Region  string `json:"region,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Zone    string `json:"zone,omitempty"`
	PID     int    `json:"pid"`
	Addr    string `json:"addr,omitempty"` // its own HTTP (or database) address
	Log     string `json:"log,omitempty"`  // its log file
	// Added by `lab up`: Ready is its readiness URL (empty for PostgreSQL).
	Ready string `json:"ready,omitempty"`
}

// Database is one PostgreSQL server of the lab.
type Database struct {
	Name    string `json:"name"`
	Region  string `json:"region"`
	Primary bool   `json:"primary"`
	URL     string `json:"url"`
	DataDir string `json:"data_dir"`
}

// ReadState reads dir's state file.
func ReadState(dir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return State{}, fmt.Errorf("lab: no running lab in %s: %w", dir, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("lab: %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// WriteState writes s to its directory's state file atomically (0600: it holds tokens).
func WriteState(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, StateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, StateFile))
}
