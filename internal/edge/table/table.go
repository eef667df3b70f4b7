package table

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Release channels (ARCHITECTURE.md §4): a tenant is pinned to one, and the edge sends
// it to the clusters that serve it.
const (
	ChannelFast       = "fast"
	ChannelStable     = "stable"
	ChannelEnterprise = "enterprise"
)

// Channels lists every release channel.
var Channels = []string{ChannelFast, ChannelStable, ChannelEnterprise}

// Services a login cluster may expose on backends of their own (Cluster.Services).
// A request for a service the cluster does not list goes to its default Backends.
const (
	ServiceDefault = ""       // hosted login pages, authorize, end session: Cluster.Backends
	ServiceOIDC    = "oidc"   // protocol APIs: discovery, keys, token, userinfo, introspect, revoke
	ServiceSAML    = "saml"   // /t/{tenant}/saml/…
	ServiceDevice  = "device" // device authorization and the device page
)

// Services lists the named services (not the default).
var Services = []string{ServiceOIDC, ServiceSAML, ServiceDevice}

// MaxFileBytes bounds the routing file.
const MaxFileBytes = 4 << 20

// Defaults of the optional settings.
const (
	DefaultWeight         = 50
	MaxWeight             = 1000
	DefaultLoginTimeout   = 15 * time.Second
	DefaultLoginTry       = 5 * time.Second
	DefaultLoginMaxBody   = 64 << 10
	DefaultAdminTimeout   = 60 * time.Second
	DefaultAdminTry       = 30 * time.Second
	DefaultAdminMaxBody   = 1 << 20
	DefaultHealthPath     = "/readyz"
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = 800 * time.Millisecond
	DefaultUnhealthyAfter = 2
	DefaultHealthyAfter   = 2
	DefaultMaxProbeEvery  = 10 * time.Second
	DefaultConsecutive    = 3
	DefaultWindow         = 10 * time.Second
	DefaultMinRequests    = 20
	DefaultErrorRate      = 0.05
	DefaultBaseEjection   = 5 * time.Second
	DefaultMaxEjection    = 5 * time.Minute
	DefaultMaxEjected     = 0.5
	DefaultBudgetRatio    = 0.2
	DefaultBudgetBurst    = 10
)

// Table is a parsed and validated routing file. Treat it as read-only after Parse.
type Table struct {
	Shards  []Shard           `json:"shards"`
	Tenants Tenants           `json:"tenants"`
	Hosts   map[string]string `json:"hosts,omitempty"` // custom host name → tenant slug
	Routes  Routes            `json:"routes"`
	Health  Health            `json:"health"`
	Outlier Outlier           `json:"outlier"`
	Retry   Retry             `json:"retry"`
}

// Shard is an isolated deployment with its own databases and broker.
type Shard struct {
	Name    string   `json:"name"`
	Regions []Region `json:"regions"`
}

// Region is one region of a shard: exactly one per shard is primary (admin tier,
// primary database). Failover is the order in which an edge of this region tries the
// shard's other regions when this one has no healthy login cluster (default: the
// shard's other regions in file order). Edges are the control API URLs of the edges
// serving this region, asked for their load and capacity by the pre-scale check.
type Region struct {
	Name     string    `json:"name"`
	Primary  bool      `json:"primary,omitempty"`
	Failover []string  `json:"failover,omitempty"`
	Edges    []string  `json:"edges,omitempty"`
	Admin    *Pool     `json:"admin,omitempty"`
	Clusters []Cluster `json:"clusters"`
}

// Cluster is one login cluster. Weight is its share of the region's login traffic
// relative to the other clusters (default 50: an even split). CapacityRPS is the
// requests per second it is scaled to take, used by the pre-scale check. Channels are
// the release channels it serves (default: all). Services are backends for a named
// service, when the cluster runs it apart from its default Backends.
type Cluster struct {
	Name        string          `json:"name"`
	Weight      *int            `json:"weight,omitempty"`
	CapacityRPS float64         `json:"capacity_rps"`
	Channels    []string        `json:"channels,omitempty"`
	Backends    []Backend       `json:"backends"`
	Services    map[string]Pool `json:"services,omitempty"`
}

// EffectiveWeight is Weight or DefaultWeight.
func (c Cluster) EffectiveWeight() int {
	if c.Weight == nil {
		return DefaultWeight
	}
	return *c.Weight
}

// Serves reports whether the cluster serves the release channel ch.
func (c Cluster) Serves(ch string) bool {
	if len(c.Channels) == 0 {
		return true
	}
	for _, s := range c.Channels {
		if s == ch {
			return true
		}
	}
	return false
}

// Pool is a set of interchangeable backends.
type Pool struct {
	Backends []Backend `json:"backends"`
}

// Backend is one process: its base URL (scheme, host, port) and its availability zone.
type Backend struct {
	URL  string `json:"url"`
	Zone string `json:"zone"`
	// Instance is the instance tag of a login process (the process's
	// NINES_INSTANCE_TAG): 1–32 characters of [a-z0-9-], not starting with '-'
	// (affinity.ValidTag). A login process started with a tag prefixes every secret it
	// mints (authorization request IDs, codes, refresh tokens, device codes, session
	// IDs) with "<tag>.", and the edge sends a request carrying such an artifact to the
	// backend with that tag on its first attempt while that backend is usable, so that a
	// flow completes on the process holding its state even when the shared state store
	// (NATS) is down. A tag names one process: two backends of the table may not share
	// one, except the listings of one process (its URL in its cluster's default backends
	// and in a service's backends), which must all name the same tag, or all none.
	// Optional: a backend without a tag gets no affinity. Admin backends keep no flow
	// state and may not name one.
	Instance string `json:"instance,omitempty"`
}

// Tenants is the tenant directory: tenant → shard (default DefaultShard) and tenant →
// release channel (default DefaultChannel, itself "stable" by default).
type Tenants struct {
	DefaultShard   string            `json:"default_shard"`
	DefaultChannel string            `json:"default_channel,omitempty"`
	Shards         map[string]string `json:"shards,omitempty"`
	Channels       map[string]string `json:"channels,omitempty"`
}

// Routes are the per-tier limits.
type Routes struct {
	Login Limits `json:"login"`
	Admin Limits `json:"admin"`
}

// Limits bound one tier's requests: Timeout the whole exchange with the backends,
// TryTimeout each attempt until the response headers arrive, MaxBodyBytes the request
// body.
type Limits struct {
	Timeout      Duration `json:"timeout,omitempty"`
	TryTimeout   Duration `json:"try_timeout,omitempty"`
	MaxBodyBytes int64    `json:"max_body_bytes,omitempty"`
}

// Health is the active health check: GET Path on every backend every Interval (with
// Timeout); UnhealthyAfter failed probes in a row take it out, HealthyAfter passed
// probes in a row bring it back. An unhealthy backend is probed with a backoff that
// doubles up to MaxInterval.
type Health struct {
	Path           string   `json:"path,omitempty"`
	Interval       Duration `json:"interval,omitempty"`
	Timeout        Duration `json:"timeout,omitempty"`
	MaxInterval    Duration `json:"max_interval,omitempty"`
	UnhealthyAfter int      `json:"unhealthy_after,omitempty"`
	HealthyAfter   int      `json:"healthy_after,omitempty"`
}

// Outlier is the passive outlier detection on live traffic. A backend is ejected after
// Consecutive failures in a row (connect errors, timeouts, 5xx), or when at least
// MinRequests in Window failed at ErrorRate or more. An ejection lasts BaseEjection,
// doubled for each ejection in a row up to MaxEjection, then the backend must pass a
// probe. At most MaxEjectedShare of a pool's backends are ejected at once (at least one).
type Outlier struct {
	Consecutive     int      `json:"consecutive_failures,omitempty"`
	Window          Duration `json:"window,omitempty"`
	MinRequests     int      `json:"min_requests,omitempty"`
	ErrorRate       float64  `json:"error_rate,omitempty"`
	BaseEjection    Duration `json:"base_ejection,omitempty"`
	MaxEjection     Duration `json:"max_ejection,omitempty"`
	MaxEjectedShare float64  `json:"max_ejected_share,omitempty"`
}

// Retry is the retry budget: retries may add at most BudgetRatio of the requests, plus
// a burst of BudgetBurst.
type Retry struct {
	BudgetRatio float64 `json:"budget_ratio,omitempty"`
	BudgetBurst int     `json:"budget_burst,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("1.5s", "200ms").
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("a duration is a string such as \"1s\" or \"250ms\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (such as \"1s\" or \"250ms\")", s)
	}
	*d = Duration(v)
	return nil
}

// Error is every problem found in a routing file.
type Error struct {
	File     string
	Problems []string
}

func (e *Error) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "routing table"
	}
	fmt.Fprintf(&b, "%s: %d problem", name, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return b.String()
}

// Load reads and parses the routing file at path.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Problems: []string{"cannot read the file: " + errors.Unwrap(err).Error()}}
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxFileBytes+1)); err != nil {
		return nil, &Error{File: path, Problems: []string{"cannot read the file: " + err.Error()}}
	}
	if buf.Len() > MaxFileBytes {
		return nil, &Error{File: path, Problems: []string{fmt.Sprintf("the file is larger than %d bytes", MaxFileBytes)}}
	}
	t, err := Parse(buf.Bytes())
	var te *Error
	if errors.As(err, &te) {
		te.File = path
	}
	return t, err
}

// Parse decodes a routing table strictly (unknown fields, duplicate keys and wrong types
// are errors), fills the defaults and validates it, returning every problem at once as
// an *Error.
func Parse(raw []byte) (*Table, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &Error{Problems: []string{"the file is empty; it must declare shards and tenants"}}
	}
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, &Error{Problems: []string{"invalid YAML: " + cleanYAMLError(err)}}
	}
	if string(bytes.TrimSpace(js)) == "null" {
		return nil, &Error{Problems: []string{"the file is empty; it must declare shards and tenants"}}
	}
	var t Table
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, &Error{Problems: []string{"invalid YAML: " + cleanYAMLError(err)}}
	}
	t.defaults()
	if ps := t.validate(); len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}
	return &t, nil
}

// cleanYAMLError drops the library's prefixes from a decoding error.
func cleanYAMLError(err error) string {
	s := err.Error()
	for _, p := range []string{"error unmarshaling JSON: while decoding JSON: ", "error converting YAML to JSON: ", "json: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

// defaults fills every optional setting left out.
func (t *Table) defaults() {
	if t.Tenants.DefaultChannel == "" {
		t.Tenants.DefaultChannel = ChannelStable
	}
	setD := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	setI := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	setF := func(f *float64, v float64) {
		if *f == 0 {
			*f = v
		}
	}
	setD(&t.Routes.Login.Timeout, DefaultLoginTimeout)
	setD(&t.Routes.Login.TryTimeout, min(DefaultLoginTry, t.Routes.Login.Timeout.D()))
	if t.Routes.Login.MaxBodyBytes == 0 {
		t.Routes.Login.MaxBodyBytes = DefaultLoginMaxBody
	}
	setD(&t.Routes.Admin.Timeout, DefaultAdminTimeout)
	setD(&t.Routes.Admin.TryTimeout, min(DefaultAdminTry, t.Routes.Admin.Timeout.D()))
	if t.Routes.Admin.MaxBodyBytes == 0 {
		t.Routes.Admin.MaxBodyBytes = DefaultAdminMaxBody
	}
	if t.Health.Path == "" {
		t.Health.Path = DefaultHealthPath
	}
	setD(&t.Health.Interval, DefaultHealthInterval)
	setD(&t.Health.Timeout, min(DefaultHealthTimeout, t.Health.Interval.D()))
	setD(&t.Health.MaxInterval, max(DefaultMaxProbeEvery, t.Health.Interval.D()))
	setI(&t.Health.UnhealthyAfter, DefaultUnhealthyAfter)
	setI(&t.Health.HealthyAfter, DefaultHealthyAfter)
	setI(&t.Outlier.Consecutive, DefaultConsecutive)
	setD(&t.Outlier.Window, DefaultWindow)
	setI(&t.Outlier.MinRequests, DefaultMinRequests)
	setF(&t.Outlier.ErrorRate, DefaultErrorRate)
	setD(&t.Outlier.BaseEjection, DefaultBaseEjection)
	setD(&t.Outlier.MaxEjection, max(DefaultMaxEjection, t.Outlier.BaseEjection.D()))
	setF(&t.Outlier.MaxEjectedShare, DefaultMaxEjected)
	setF(&t.Retry.BudgetRatio, DefaultBudgetRatio)
	setI(&t.Retry.BudgetBurst, DefaultBudgetBurst)
}

// Shard returns the shard named name.
func (t *Table) Shard(name string) (*Shard, bool) {
	for i := range t.Shards {
		if t.Shards[i].Name == name {
			return &t.Shards[i], true
		}
	}
	return nil, false
}

// HasRegion reports whether any shard has a region named name.
func (t *Table) HasRegion(name string) bool {
	for _, s := range t.Shards {
		for _, r := range s.Regions {
			if r.Name == name {
				return true
			}
		}
	}
	return false
}

// Primary returns the shard's primary region (validation guarantees exactly one).
func (s *Shard) Primary() *Region {
	for i := range s.Regions {
		if s.Regions[i].Primary {
			return &s.Regions[i]
		}
	}
	return nil
}

// Region returns the shard's region named name.
func (s *Shard) Region(name string) (*Region, bool) {
	for i := range s.Regions {
		if s.Regions[i].Name == name {
			return &s.Regions[i], true
		}
	}
	return nil, false
}
