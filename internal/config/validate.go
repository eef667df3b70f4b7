package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/clientip"
)

// Problem is one invalid setting, named by its environment variable.
type Problem struct {
	Setting string // environment variable name, e.g. NINES_DATABASE_URL
	Detail  string // never contains a secret value
}

// Problems is every problem Validate found; it is the error Validate returns.
type Problems []Problem

// Err returns ps as an error, or nil when there is none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

func (ps Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(ps))
	if len(ps) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.Setting)
		if f := flagFor[p.Setting]; f != "" {
			b.WriteString(" (--" + f + ")")
		}
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	return b.String()
}

// flagFor maps each Config environment variable to its flag name.
var flagFor = func() map[string]string {
	m := map[string]string{"NINES_ROLE": "role"}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		if env, name := f.Tag.Get("env"), f.Tag.Get("name"); env != "" && name != "" {
			m[env] = name
		}
	}
	return m
}()

// Limits on settings.
const (
	MinBootstrapTokenLen = 32
	KEKLen               = 32
	// MinEventRetention keeps a typo ("90s" for "90d") from deleting the audit trail.
	MinEventRetention = 24 * time.Hour
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate fills the derived defaults (PublicURL from HTTPAddr, the trailing slash of
// PublicURL trimmed, empty replica entries dropped, the KEK decoded, from its file when
// KEKFile is set) and returns every problem at once as Problems, including every
// NINES_ environment variable that is not a known name (a typo would otherwise be
// silently ignored). It is idempotent. It reads the KEK file and the environment
// (Environ); nothing else touches the system.
func (c *Config) Validate() error {
	var ps Problems
	c.validateHTTP(&ps)
	c.validateStorage(&ps)
	c.validateSecrets(&ps)
	c.validateOperations(&ps)
	c.validateNATSNode(&ps)
	c.validateEdge(&ps)
	ps = append(ps, unknownEnv(c.environ())...)
	return ps.Err()
}

func (ps *Problems) add(setting, format string, args ...any) {
	*ps = append(*ps, Problem{Setting: setting, Detail: fmt.Sprintf(format, args...)})
}

func (c *Config) validateHTTP(ps *Problems) {
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		ps.add("NINES_HTTP_ADDR", "%v", err)
	}
	if c.PublicURL == "" || c.publicURLDerived {
		c.PublicURL, c.publicURLDerived = DerivePublicURL(c.HTTPAddr), true
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	// A derived URL is only as wrong as HTTPAddr, which is reported already.
	if err := checkPublicURL(c.PublicURL); err != nil && !c.publicURLDerived {
		ps.add("NINES_PUBLIC_URL", "%v", err)
	} else if err == nil && !secureOrLoopback(c.PublicURL) {
		ps.add("NINES_PUBLIC_URL", "%q: plain http is allowed only on localhost, 127.0.0.1 or [::1], where sign-in cookies can go without the Secure flag; use the https URL clients reach nines at (terminate TLS in front of it)", c.PublicURL)
	}
}

func (c *Config) validateStorage(ps *Problems) {
	if strings.TrimSpace(c.DataDir) == "" {
		ps.add("NINES_DATA_DIR", "must not be empty")
	}
	if c.DatabaseURL != "" {
		if err := checkPostgresURL(c.DatabaseURL); err != nil {
			ps.add("NINES_DATABASE_URL", "%v", err)
		}
	}
	replicas := c.ReplicaURLs[:0:0]
	for _, r := range c.ReplicaURLs {
		if r = strings.TrimSpace(r); r != "" {
			replicas = append(replicas, r)
		}
	}
	c.ReplicaURLs = replicas
	switch {
	case c.ReplicaOnly:
		c.validateReplicaOnly(ps)
	case len(replicas) > 0 && c.DatabaseURL == "":
		ps.add("NINES_REPLICA_URLS", "replicas need a PostgreSQL primary (NINES_DATABASE_URL); the embedded SQLite has none")
	}
	for i, r := range replicas {
		if err := checkPostgresURL(r); err != nil {
			ps.add("NINES_REPLICA_URLS", "entry %d: %v", i+1, err)
		}
	}
	for i, n := range splitList(c.NATSURL) {
		if err := checkNATSURL(n); err != nil {
			ps.add("NINES_NATS_URL", "entry %d: %v", i+1, err)
		}
	}
}

// validateSecrets never quotes a secret in a problem.
func (c *Config) validateSecrets(ps *Problems) {
	if t := c.BootstrapAdminToken.Reveal(); t != "" {
		if len(t) < MinBootstrapTokenLen {
			ps.add("NINES_BOOTSTRAP_ADMIN_TOKEN", "must be at least %d characters (it has %d)", MinBootstrapTokenLen, len(t))
		}
		if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			ps.add("NINES_BOOTSTRAP_ADMIN_TOKEN", "must not contain spaces or control characters")
		}
	}
	c.kek = nil
	switch {
	case c.KEK != "" && c.KEKFile != "":
		ps.add("NINES_KEK", "set either NINES_KEK or NINES_KEK_FILE, not both")
	case c.KEK != "":
		k, err := decodeKEK(c.KEK.Reveal())
		if err != nil {
			ps.add("NINES_KEK", "%v", err)
		}
		c.kek = k
	case c.KEKFile != "":
		b, err := os.ReadFile(c.KEKFile)
		if err != nil {
			ps.add("NINES_KEK_FILE", "cannot read the file: %v", err)
			return
		}
		k, err := decodeKEK(string(b))
		if err != nil {
			ps.add("NINES_KEK_FILE", "%s: %v", c.KEKFile, err)
		}
		c.kek = k
	}
}

func (c *Config) validateOperations(ps *Problems) {
	for _, l := range []struct{ setting, value string }{
		{"NINES_REGION", c.Region}, {"NINES_CLUSTER", c.Cluster}, {"NINES_ZONE", c.Zone},
	} {
		if l.value != "" && !dnsLabel.MatchString(l.value) {
			ps.add(l.setting, "%q is not a DNS label (lower-case letters, digits and '-', at most 63, not starting or ending with '-')", l.value)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		ps.add("NINES_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.ShutdownDelay < 0 {
		ps.add("NINES_SHUTDOWN_DELAY", "must not be negative")
	}
	if c.ShutdownTimeout <= 0 {
		ps.add("NINES_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.EventRetention != 0 && c.EventRetention < MinEventRetention {
		ps.add("NINES_EVENT_RETENTION", "%v: 0 (keep every event) or at least %v", c.EventRetention, MinEventRetention)
	}
	c.validateProxies(ps)
	if c.InstanceTag != "" && !affinity.ValidTag(c.InstanceTag) {
		ps.add("NINES_INSTANCE_TAG", "%q is not an instance tag: 1 to %d characters of lower-case letters, digits and '-', starting with a letter or digit", c.InstanceTag, affinity.MaxTagLen)
	}
}

// validateProxies parses TrustedProxies (empty entries dropped) into prefixes.
func (c *Config) validateProxies(ps *Problems) {
	var list []string
	for _, s := range c.TrustedProxies {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	c.TrustedProxies = list
	prefixes, errs := clientip.ParsePrefixes(list)
	for _, err := range errs {
		ps.add("NINES_TRUSTED_PROXIES", "%v", err)
	}
	c.trustedProxies = prefixes
}

func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: invalid host", addr)
	}
	return nil
}

// secureOrLoopback reports whether s (a valid public URL) is https or http on a loopback
// host.
func secureOrLoopback(s string) bool {
	u, _ := url.Parse(s)
	if u.Scheme == "https" {
		return true
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

func checkPublicURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must be an absolute http:// or https:// URL", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q must not contain user information", s)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%q must not have a query", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q must not have a fragment", s)
	}
	return nil
}

// checkPostgresURL never quotes the URL: it may carry a password.
func checkPostgresURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL (use postgres://user:password@host:port/db)")
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return fmt.Errorf("must be a postgres:// or postgresql:// URL")
	case u.Host == "" && u.Query().Get("host") == "":
		return fmt.Errorf("has no host")
	}
	return nil
}

func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL")
	case u.Scheme != "nats" && u.Scheme != "tls":
		return fmt.Errorf("must be a nats:// or tls:// URL")
	case u.Host == "":
		return fmt.Errorf("has no host")
	}
	return nil
}

// decodeKEK accepts standard or URL-safe base64, padded or not, with surrounding white
// space (a mounted secret file usually ends in a newline). Errors never quote the key.
func decodeKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KEKLen {
				return nil, fmt.Errorf("must be base64 of exactly %d bytes (it decodes to %d)", KEKLen, len(k))
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("is not valid base64 (generate one with: head -c 32 /dev/urandom | base64)")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validateReplicaOnly checks the login role's configuration: replicas only, an external
// NATS for its state and command stream, and the deployment's KEK (a generated one
// could not open the keys the admin tier sealed).
func (c *Config) validateReplicaOnly(ps *Problems) {
	if c.DatabaseURL != "" {
		ps.add("NINES_DATABASE_URL", "the login role never connects to the primary: unset it and give the replicas in NINES_REPLICA_URLS")
	}
	if len(c.ReplicaURLs) == 0 {
		ps.add("NINES_REPLICA_URLS", "the login role reads entity data from PostgreSQL streaming replicas only: list at least one")
	}
	if strings.TrimSpace(c.NATSURL) == "" {
		ps.add("NINES_NATS_URL", "the login role keeps its state in the deployment's NATS: set the server URLs")
	}
	if c.KEK == "" && c.KEKFile == "" {
		ps.add("NINES_KEK_FILE", "the login role needs the deployment's key-encryption key to sign tokens")
	}
}
