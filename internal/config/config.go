package config

import (
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"time"
)

// Config is every setting of the nines server. The struct tags are the contract: each
// field has a flag (--http-addr) and an environment variable (NINES_HTTP_ADDR). Call
// Validate before use; it fills the derived defaults.
type Config struct {
	HTTPAddr  string `name:"http-addr" env:"NINES_HTTP_ADDR" default:"127.0.0.1:8080" help:"Address (host:port) the HTTP server listens on."`
	PublicURL string `name:"public-url" env:"NINES_PUBLIC_URL" help:"External base URL (absolute http or https, no query or fragment). Default: http:// + the listen address."`
	DataDir   string `name:"data-dir" env:"NINES_DATA_DIR" default:"./nines-data" type:"path" help:"Directory for the embedded database and local state; created 0700."`

	DatabaseURL string   `name:"database-url" env:"NINES_DATABASE_URL" help:"PostgreSQL primary (postgres:// or postgresql://). Empty: embedded SQLite at <data dir>/nines.db."`
	ReplicaURLs []string `name:"replica-urls" env:"NINES_REPLICA_URLS" sep:"," help:"Comma-separated PostgreSQL read replicas; needs --database-url."`
	NATSURL     string   `name:"nats-url" env:"NINES_NATS_URL" help:"NATS server URLs (nats:// or tls://, comma-separated). Empty: an embedded server with its store under <data dir>/nats."`

	NATSName          string   `name:"nats-name" env:"NINES_NATS_NAME" help:"--role=nats only: this member's server name, unique in the NATS cluster (DNS label)."`
	NATSClusterName   string   `name:"nats-cluster-name" env:"NINES_NATS_CLUSTER_NAME" help:"--role=nats only: the NATS cluster's name, the same on every member (DNS label). Default: nines."`
	NATSListen        string   `name:"nats-listen" env:"NINES_NATS_LISTEN" help:"--role=nats only: host:port for NATS clients. Default: the host of --http-addr, port 4222."`
	NATSClusterListen string   `name:"nats-cluster-listen" env:"NINES_NATS_CLUSTER_LISTEN" help:"--role=nats only: host:port for routes from the other members. Default: the host of --http-addr, port 6222."`
	NATSRoutes        []string `name:"nats-routes" env:"NINES_NATS_ROUTES" sep:"," help:"--role=nats only: comma-separated route addresses (host:port or nats-route://host:port) of the cluster's members; listing this member too is fine."`

	EdgeRoutes       string `name:"edge-routes" env:"NINES_EDGE_ROUTES" type:"path" help:"--role=edge only: the routing table (YAML), reloaded when the file changes."`
	EdgeControlAddr  string `name:"edge-control-addr" env:"NINES_EDGE_CONTROL_ADDR" help:"--role=edge only: host:port of the traffic-control API (nines ctl edge …). Default: the host of --http-addr, port 8081."`
	EdgeControlToken Secret `name:"edge-control-token" env:"NINES_EDGE_CONTROL_TOKEN" help:"--role=edge only: the bearer token (at least 32 characters) of the traffic-control API."`

	ProvisioningToken Secret `name:"provisioning-token" env:"NINES_PROVISIONING_TOKEN" help:"The admin API token the login tier presents (north-south, through NINES_PUBLIC_URL) to create a user during sign-in (just-in-time provisioning). Empty on the all role: one is made at start."`

	InstanceTag string `name:"instance-tag" env:"NINES_INSTANCE_TAG" help:"Login tier (roles login and all): this process's routing tag, 1-32 characters of [a-z0-9-] starting with a letter or digit, unique among the login processes. The secrets it mints for a flow (request IDs, codes, refresh tokens, device codes, session cookies) carry it so the edge sends the flow's later requests back to this process, which holds its state during a NATS outage. Empty: untagged (any process; no affinity). Other roles ignore it."`

	TrustedProxies []string `name:"trusted-proxies" env:"NINES_TRUSTED_PROXIES" sep:"," help:"Comma-separated IP addresses and CIDR prefixes of the proxies in front of nines (the edge, load balancers) whose X-Forwarded-For is believed for the client address. Empty: the TCP peer is the client."`

	BootstrapAdminToken Secret `name:"bootstrap-admin-token" env:"NINES_BOOTSTRAP_ADMIN_TOKEN" help:"A global admin API token (at least 32 characters) ensured at start. Empty: one is generated on first start and printed once."`
	KEK                 Secret `name:"kek" env:"NINES_KEK" help:"Key-encryption key: base64 of 32 random bytes. Prefer --kek-file."`
	KEKFile             string `name:"kek-file" env:"NINES_KEK_FILE" help:"File holding the key-encryption key (base64 of 32 bytes), e.g. a mounted secret."`

	Region  string `name:"region" env:"NINES_REGION" help:"Region label (DNS label) for readiness, logs and metrics."`
	Cluster string `name:"cluster" env:"NINES_CLUSTER" help:"Cluster label (DNS label)."`
	Zone    string `name:"zone" env:"NINES_ZONE" help:"Availability-zone label (DNS label)."`

	EventRetention time.Duration `name:"event-retention" env:"NINES_EVENT_RETENTION" default:"0s" help:"How long audit and sign-in events are kept (e.g. 2160h for 90 days); the worker deletes older ones. 0: kept until you delete them (events are audit data: never pruned by default)."`

	LogLevel        string        `name:"log-level" env:"NINES_LOG_LEVEL" default:"info" help:"debug, info, warn or error."`
	ShutdownDelay   time.Duration `name:"shutdown-delay" env:"NINES_SHUTDOWN_DELAY" default:"0s" help:"On SIGTERM, how long to stay up reporting not-ready before draining. On Kubernetes set it to a few seconds (e.g. 5s) so endpoints stop sending traffic first."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" env:"NINES_SHUTDOWN_TIMEOUT" default:"15s" help:"Grace period for in-flight requests to finish while draining."`

	// Environ is the process environment checked for unknown NINES_ names; nil means
	// os.Environ(). Tests set it.
	Environ []string `kong:"-"`

	// ReplicaOnly is set for the login role before Validate: the process reads only
	// replicas (NINES_REPLICA_URLS, never NINES_DATABASE_URL), keeps its state in an
	// external NATS and must share the deployment's KEK.
	ReplicaOnly bool `kong:"-"`

	// NATSNode is set for the nats role before Validate: the process is one member of a
	// NATS JetStream cluster and nothing else. The NINES_NATS_NAME, _CLUSTER_NAME,
	// _LISTEN, _CLUSTER_LISTEN and _ROUTES settings are valid only then.
	NATSNode bool `kong:"-"`

	// Edge is set for the edge role before Validate: the NINES_EDGE_* settings are
	// valid (and the routing table and control token required) only then.
	Edge bool `kong:"-"`

	kek              []byte         // decoded key-encryption key, set by Validate
	trustedProxies   []netip.Prefix // parsed TrustedProxies, set by Validate
	publicURLDerived bool           // PublicURL was derived from HTTPAddr
}

// Embedded reports whether the embedded SQLite database is used (no PostgreSQL at all).
func (c *Config) Embedded() bool { return c.DatabaseURL == "" && !c.ReplicaOnly }

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "nines.db") }

// BootstrapTokenFile is where a generated bootstrap admin token is written on the
// embedded default.
func (c *Config) BootstrapTokenFile() string {
	return filepath.Join(c.DataDir, "bootstrap-admin-token")
}

// KEKBytes is the decoded key-encryption key (nil when none is configured). Valid only
// after Validate returned nil.
func (c *Config) KEKBytes() []byte { return c.kek }

// TrustedProxyPrefixes are the parsed TrustedProxies. Valid only after Validate
// returned nil.
func (c *Config) TrustedProxyPrefixes() []netip.Prefix { return c.trustedProxies }

// PublicURLDerived reports whether PublicURL was not set and was derived from HTTPAddr;
// a server that binds port 0 then replaces it with the bound address.
func (c *Config) PublicURLDerived() bool { return c.publicURLDerived }

// DerivePublicURL is the default public URL for a listen address: http:// + host:port,
// with a wildcard or missing host shown as localhost.
func DerivePublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}
