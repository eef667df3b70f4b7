package config

import (
	"log/slog"
	"net/url"
	"strings"
)

// Redacted replaces a secret wherever a value is printed or logged.
const Redacted = "[redacted]"

// Secret is a string that must never be printed or logged: fmt, slog and JSON all see
// "[redacted]" (or "" when it is empty, so an unset secret is visible as unset). Reveal
// is the only way to the value.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoding/json and friends from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer: the effective configuration with every secret
// redacted (the KEK and bootstrap token, and passwords in database URLs).
func (c *Config) LogValue() slog.Value {
	replicas := make([]string, len(c.ReplicaURLs))
	for i, u := range c.ReplicaURLs {
		replicas[i] = RedactURL(u)
	}
	database := "sqlite:" + c.SQLitePath()
	switch {
	case c.NATSNode:
		database = "" // the nats role opens no database
	case !c.Embedded():
		database = RedactURL(c.DatabaseURL)
	}
	return slog.GroupValue(
		slog.String("http_addr", c.HTTPAddr),
		slog.String("public_url", c.PublicURL),
		slog.String("data_dir", c.DataDir),
		slog.String("database", database),
		slog.Any("replicas", replicas),
		slog.String("nats_url", redactList(c.NATSURL)),
		slog.String("trusted_proxies", strings.Join(c.TrustedProxies, ",")),
		slog.Bool("bootstrap_admin_token_set", c.BootstrapAdminToken != ""),
		slog.Bool("kek_set", c.KEK != "" || c.KEKFile != ""),
		slog.String("kek_file", c.KEKFile),
		slog.String("region", c.Region),
		slog.String("cluster", c.Cluster),
		slog.String("zone", c.Zone),
		slog.String("instance_tag", c.InstanceTag),
		slog.String("log_level", c.LogLevel),
		slog.Duration("shutdown_delay", c.ShutdownDelay),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
	)
}

// RedactURL returns rawURL with any password replaced, and with query parameters that
// may carry credentials (password, sslpassword, …) removed. A string that does not parse
// as a URL is redacted whole, since it might be a key=value DSN with a password in it.
func RedactURL(rawURL string) string {
	if rawURL == "" {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return Redacted
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isSecretParam(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func isSecretParam(k string) bool {
	switch k {
	case "password", "sslpassword", "sslkey", "passfile", "token", "user_jwt", "nkey":
		return true
	}
	return false
}

func redactList(list string) string {
	parts := splitList(list)
	for i, p := range parts {
		parts[i] = RedactURL(p)
	}
	return strings.Join(parts, ",")
}
