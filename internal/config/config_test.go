package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

// valid returns a Config that passes Validate, as kong fills it with defaults.
func valid() Config {
	return Config{
		HTTPAddr:        "127.0.0.1:8080",
		DataDir:         "./nines-data",
		LogLevel:        "info",
		ShutdownTimeout: 15 * time.Second,
		Environ:         []string{"PATH=/bin"},
	}
}

var (
	goodKEK  = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	goodTok  = strings.Repeat("t", 32)
	shortKEK = base64.StdEncoding.EncodeToString(make([]byte, 16))
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func problemSettings(err error) []string {
	var ps Problems
	if !errors.As(err, &ps) {
		return nil
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Setting)
	}
	return out
}

func TestValidate(t *testing.T) {
	kekFile := writeFile(t, goodKEK+"\n")
	badKEKFile := writeFile(t, "not base64!!\n")
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // settings with a problem, in order; nil = valid
	}{
		{name: "defaults are valid", modify: func(*Config) {}},
		{name: "listen addr without port", modify: func(c *Config) { c.HTTPAddr = "127.0.0.1" }, want: []string{"NINES_HTTP_ADDR"}},
		{name: "listen addr bad port", modify: func(c *Config) { c.HTTPAddr = "127.0.0.1:http" }, want: []string{"NINES_HTTP_ADDR"}},
		{name: "listen addr port too big", modify: func(c *Config) { c.HTTPAddr = ":70000" }, want: []string{"NINES_HTTP_ADDR"}},
		{name: "listen addr any host", modify: func(c *Config) { c.HTTPAddr = ":8080" }},
		{name: "public url https", modify: func(c *Config) { c.PublicURL = "https://id.example.com/base/" }},
		{name: "public url http on localhost", modify: func(c *Config) { c.PublicURL = "http://localhost:8080" }},
		{name: "public url http on loopback ip", modify: func(c *Config) { c.PublicURL = "http://127.0.0.1:9000" }},
		{name: "public url http elsewhere", modify: func(c *Config) { c.PublicURL = "http://id.example.com" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "derived http url on a real interface", modify: func(c *Config) { c.HTTPAddr = "10.1.2.3:8080" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url relative", modify: func(c *Config) { c.PublicURL = "/base" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url ftp", modify: func(c *Config) { c.PublicURL = "ftp://id.example.com" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url query", modify: func(c *Config) { c.PublicURL = "https://id.example.com/?a=b" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url empty query", modify: func(c *Config) { c.PublicURL = "https://id.example.com/?" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url fragment", modify: func(c *Config) { c.PublicURL = "https://id.example.com/#x" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url no host", modify: func(c *Config) { c.PublicURL = "https:///path" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "public url userinfo", modify: func(c *Config) { c.PublicURL = "https://a:b@id.example.com" }, want: []string{"NINES_PUBLIC_URL"}},
		{name: "data dir empty", modify: func(c *Config) { c.DataDir = " " }, want: []string{"NINES_DATA_DIR"}},
		{name: "database postgres", modify: func(c *Config) { c.DatabaseURL = "postgres://u:p@db:5432/nines" }},
		{name: "database postgresql", modify: func(c *Config) { c.DatabaseURL = "postgresql://db/nines?sslmode=verify-full" }},
		{name: "database socket host param", modify: func(c *Config) { c.DatabaseURL = "postgres:///nines?host=/run/postgresql" }},
		{name: "database mysql", modify: func(c *Config) { c.DatabaseURL = "mysql://db/nines" }, want: []string{"NINES_DATABASE_URL"}},
		{name: "database dsn", modify: func(c *Config) { c.DatabaseURL = "host=db password=x" }, want: []string{"NINES_DATABASE_URL"}},
		{name: "database no host", modify: func(c *Config) { c.DatabaseURL = "postgres:///nines" }, want: []string{"NINES_DATABASE_URL"}},
		{name: "replicas with primary", modify: func(c *Config) {
			c.DatabaseURL = "postgres://db/n"
			c.ReplicaURLs = []string{"postgres://r1/n", " postgresql://r2/n ", ""}
		}},
		{name: "replicas without primary", modify: func(c *Config) { c.ReplicaURLs = []string{"postgres://r1/n"} }, want: []string{"NINES_REPLICA_URLS"}},
		{name: "replica not postgres", modify: func(c *Config) {
			c.DatabaseURL = "postgres://db/n"
			c.ReplicaURLs = []string{"postgres://r1/n", "http://r2"}
		}, want: []string{"NINES_REPLICA_URLS"}},
		{name: "only empty replica entries", modify: func(c *Config) { c.ReplicaURLs = []string{"", " "} }},
		{name: "nats urls", modify: func(c *Config) { c.NATSURL = "nats://a:4222, tls://b:4222" }},
		{name: "nats wrong scheme", modify: func(c *Config) { c.NATSURL = "nats://a:4222,http://b" }, want: []string{"NINES_NATS_URL"}},
		{name: "nats no host", modify: func(c *Config) { c.NATSURL = "nats://" }, want: []string{"NINES_NATS_URL"}},
		{name: "bootstrap token ok", modify: func(c *Config) { c.BootstrapAdminToken = Secret(goodTok) }},
		{name: "bootstrap token short", modify: func(c *Config) { c.BootstrapAdminToken = Secret(goodTok[1:]) }, want: []string{"NINES_BOOTSTRAP_ADMIN_TOKEN"}},
		{name: "bootstrap token with space", modify: func(c *Config) { c.BootstrapAdminToken = Secret(goodTok + " x") }, want: []string{"NINES_BOOTSTRAP_ADMIN_TOKEN"}},
		{name: "kek ok", modify: func(c *Config) { c.KEK = Secret(goodKEK) }},
		{name: "kek url-safe unpadded", modify: func(c *Config) {
			c.KEK = Secret(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)))
		}},
		{name: "kek wrong length", modify: func(c *Config) { c.KEK = Secret(shortKEK) }, want: []string{"NINES_KEK"}},
		{name: "kek not base64", modify: func(c *Config) { c.KEK = "%%%%" }, want: []string{"NINES_KEK"}},
		{name: "kek file ok", modify: func(c *Config) { c.KEKFile = kekFile }},
		{name: "kek file bad content", modify: func(c *Config) { c.KEKFile = badKEKFile }, want: []string{"NINES_KEK_FILE"}},
		{name: "kek file missing", modify: func(c *Config) { c.KEKFile = filepath.Join(t.TempDir(), "nope") }, want: []string{"NINES_KEK_FILE"}},
		{name: "kek and kek file", modify: func(c *Config) { c.KEK, c.KEKFile = Secret(goodKEK), kekFile }, want: []string{"NINES_KEK"}},
		{name: "labels ok", modify: func(c *Config) { c.Region, c.Cluster, c.Zone = "eu-west-1", "c1", "eu-west-1a" }},
		{name: "region upper case", modify: func(c *Config) { c.Region = "EU" }, want: []string{"NINES_REGION"}},
		{name: "cluster leading dash", modify: func(c *Config) { c.Cluster = "-c1" }, want: []string{"NINES_CLUSTER"}},
		{name: "zone too long", modify: func(c *Config) { c.Zone = strings.Repeat("z", 64) }, want: []string{"NINES_ZONE"}},
		{name: "zone dot", modify: func(c *Config) { c.Zone = "a.b" }, want: []string{"NINES_ZONE"}},
		{name: "log level debug", modify: func(c *Config) { c.LogLevel = "debug" }},
		{name: "log level bad", modify: func(c *Config) { c.LogLevel = "verbose" }, want: []string{"NINES_LOG_LEVEL"}},
		{name: "shutdown delay negative", modify: func(c *Config) { c.ShutdownDelay = -time.Second }, want: []string{"NINES_SHUTDOWN_DELAY"}},
		{name: "shutdown timeout zero", modify: func(c *Config) { c.ShutdownTimeout = 0 }, want: []string{"NINES_SHUTDOWN_TIMEOUT"}},
		{name: "trusted proxies", modify: func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", " 192.0.2.7 ", "", "2001:db8::/32"} }},
		{name: "trusted proxy not an address", modify: func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "lb.example.com"} }, want: []string{"NINES_TRUSTED_PROXIES"}},
		{name: "trusted proxy host bits set", modify: func(c *Config) { c.TrustedProxies = []string{"10.0.0.1/8"} }, want: []string{"NINES_TRUSTED_PROXIES"}},
		{name: "trusted proxy trusts everybody", modify: func(c *Config) { c.TrustedProxies = []string{"0.0.0.0/0", "::/0"} }, want: []string{"NINES_TRUSTED_PROXIES", "NINES_TRUSTED_PROXIES"}},
		{name: "instance tag", modify: func(c *Config) { c.InstanceTag = "login-eu-1" }},
		{name: "instance tag one digit", modify: func(c *Config) { c.InstanceTag = "7" }},
		{name: "instance tag longest", modify: func(c *Config) { c.InstanceTag = strings.Repeat("a", 32) }},
		{name: "instance tag too long", modify: func(c *Config) { c.InstanceTag = strings.Repeat("a", 33) }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "instance tag upper case", modify: func(c *Config) { c.InstanceTag = "Login1" }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "instance tag leading dash", modify: func(c *Config) { c.InstanceTag = "-a" }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "instance tag with the separator", modify: func(c *Config) { c.InstanceTag = "a.b" }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "instance tag underscore", modify: func(c *Config) { c.InstanceTag = "a_b" }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "instance tag space", modify: func(c *Config) { c.InstanceTag = " " }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "known env is fine", modify: func(c *Config) {
			c.Environ = []string{"NINES_DATABASE_URL=", "NINES_ROLE=all", "NINES_SERVER=x", "NINES_ADMIN_TOKEN=y", "NINESX=1"}
		}},
		{name: "unknown env with suggestion", modify: func(c *Config) { c.Environ = []string{"NINES_DATABSE_URL=postgres://x"} }, want: []string{"NINES_DATABSE_URL"}},
		{name: "unknown env far from any", modify: func(c *Config) { c.Environ = []string{"NINES_FOO=1", "NINES_FOO=2"} }, want: []string{"NINES_FOO"}},
		{name: "every problem at once", modify: func(c *Config) {
			c.HTTPAddr = "nope"
			c.PublicURL = "ftp://x"
			c.DatabaseURL = "mysql://db"
			c.BootstrapAdminToken = "short"
			c.KEK = Secret(shortKEK)
			c.Zone = "Z"
			c.LogLevel = "loud"
			c.ShutdownTimeout = -1
			c.TrustedProxies = []string{"10.0.0.0/33"}
			c.InstanceTag = "A"
			c.Environ = []string{"NINES_ZONEE=a"}
		}, want: []string{"NINES_HTTP_ADDR", "NINES_PUBLIC_URL", "NINES_DATABASE_URL", "NINES_BOOTSTRAP_ADMIN_TOKEN",
			"NINES_KEK", "NINES_ZONE", "NINES_LOG_LEVEL", "NINES_SHUTDOWN_TIMEOUT", "NINES_TRUSTED_PROXIES", "NINES_INSTANCE_TAG", "NINES_ZONEE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			err := c.Validate()
			if diff := cmp.Diff(tt.want, problemSettings(err)); diff != "" {
				t.Fatalf("problems (-want +got):\n%s\nerror: %v", diff, err)
			}
			if tt.want == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
		})
	}
}

func TestValidateNormalizes(t *testing.T) {
	tests := []struct {
		name      string
		addr, pub string
		wantPub   string
		derived   bool
	}{
		{name: "derived from addr", addr: "127.0.0.1:8080", wantPub: "http://127.0.0.1:8080", derived: true},
		{name: "derived from wildcard", addr: ":9000", wantPub: "http://localhost:9000", derived: true},
		{name: "derived from ipv6", addr: "[::1]:9000", wantPub: "http://[::1]:9000", derived: true},
		{name: "trailing slashes trimmed", addr: "127.0.0.1:8080", pub: "https://id.example.com/x//", wantPub: "https://id.example.com/x"},
		{name: "explicit kept", addr: "127.0.0.1:8080", pub: "https://id.example.com", wantPub: "https://id.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.HTTPAddr, c.PublicURL = tt.addr, tt.pub
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if c.PublicURL != tt.wantPub || c.PublicURLDerived() != tt.derived {
				t.Fatalf("PublicURL = %q derived=%v, want %q derived=%v", c.PublicURL, c.PublicURLDerived(), tt.wantPub, tt.derived)
			}
			// Idempotent: a second Validate changes nothing.
			before := c.PublicURL
			if err := c.Validate(); err != nil || c.PublicURL != before {
				t.Fatalf("second Validate: %v, PublicURL %q -> %q", err, before, c.PublicURL)
			}
		})
	}
}

func TestTrustedProxiesParsed(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "default trusts nobody", in: nil, want: nil},
		{name: "only empty entries", in: []string{"", " "}, want: nil},
		{name: "addresses and prefixes", in: []string{"10.0.0.0/8", " 192.0.2.7", "2001:db8::1", "::ffff:10.1.0.0/112"},
			want: []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::1/128", "10.1.0.0/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			c.TrustedProxies = tt.in
			for range 2 { // idempotent
				if err := c.Validate(); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, p := range c.TrustedProxyPrefixes() {
					got = append(got, p.String())
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Fatalf("TrustedProxyPrefixes (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestKEKDecoded(t *testing.T) {
	want := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name   string
		modify func(c *Config)
	}{
		{name: "from env", modify: func(c *Config) { c.KEK = Secret(goodKEK) }},
		{name: "from file with newline", modify: func(c *Config) { c.KEKFile = writeFile(t, goodKEK+"\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.KEKBytes(), want) {
				t.Fatalf("KEKBytes = %x", c.KEKBytes())
			}
		})
	}
}

func TestProblemsMessageListsEverything(t *testing.T) {
	c := valid()
	c.DatabaseURL = "mysql://root:hunter2hunter2@db/x"
	c.BootstrapAdminToken = "tooshort-secret"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"2 problems", "NINES_DATABASE_URL (--database-url)", "NINES_BOOTSTRAP_ADMIN_TOKEN (--bootstrap-admin-token)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, secret := range []string{"hunter2", "tooshort-secret"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message leaks %q:\n%s", secret, msg)
		}
	}
}

func TestLogValueRedacts(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("K"), 32))
	c := valid()
	c.DatabaseURL = "postgres://app:dbpass-primary@db:5432/n?sslpassword=sslpass-x"
	c.ReplicaURLs = []string{"postgres://app:dbpass-replica@r1/n"}
	c.NATSURL = "nats://u:natspass@a:4222,nats://b:4222"
	c.BootstrapAdminToken = Secret("bootstrap-" + goodTok)
	c.KEK = Secret(kek)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", &c)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c.KEK, c.BootstrapAdminToken, c.KEK, c.BootstrapAdminToken)
	j, err := json.Marshal(struct{ K, T Secret }{c.KEK, c.BootstrapAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(j)
	out := buf.String()
	for _, secret := range []string{"dbpass-primary", "sslpass-x", "dbpass-replica", "natspass", "bootstrap-", kek, kek[:20]} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`"database":"postgres://app:xxxxx@db:5432/n?sslpassword=xxxxx"`, `"bootstrap_admin_token_set":true`, `"kek_set":true`, Redacted} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "empty", in: "", want: ""},
		{name: "no password", in: "postgres://app@db/n", want: "postgres://app@db/n"},
		{name: "password", in: "postgres://app:pw@db/n", want: "postgres://app:xxxxx@db/n"},
		{name: "password param", in: "postgres://db/n?password=pw&sslmode=require", want: "postgres://db/n?password=xxxxx&sslmode=require"},
		{name: "dsn redacted whole", in: "host=db password=pw", want: Redacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Fatalf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestContractNames pins the environment variable names other tools depend on.
func TestContractNames(t *testing.T) {
	want := []string{
		"NINES_ADMIN_TOKEN", "NINES_BOOTSTRAP_ADMIN_TOKEN", "NINES_CLUSTER", "NINES_DATABASE_URL", "NINES_DATA_DIR",
		"NINES_EDGE_CONTROL_ADDR", "NINES_EDGE_CONTROL_TOKEN", "NINES_EDGE_ROUTES", "NINES_EVENT_RETENTION", "NINES_HTTP_ADDR", "NINES_INSTANCE_TAG", "NINES_KEK", "NINES_KEK_FILE", "NINES_LOG_LEVEL", "NINES_NATS_CLUSTER_LISTEN",
		"NINES_NATS_CLUSTER_NAME", "NINES_NATS_LISTEN", "NINES_NATS_NAME", "NINES_NATS_ROUTES", "NINES_NATS_URL", "NINES_PROVISIONING_TOKEN", "NINES_PUBLIC_URL",
		"NINES_REGION", "NINES_REPLICA_URLS", "NINES_ROLE", "NINES_SERVER", "NINES_SHUTDOWN_DELAY",
		"NINES_SHUTDOWN_TIMEOUT", "NINES_TRUSTED_PROXIES", "NINES_ZONE",
	}
	if diff := cmp.Diff(want, KnownEnv()); diff != "" {
		t.Fatalf("KnownEnv (-want +got):\n%s", diff)
	}
}

// TestKongParse checks the tags: defaults, flags and environment variables reach the
// fields, and a flag beats the environment.
func TestKongParse(t *testing.T) {
	type cli struct {
		Config `embed:""`
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			if c.HTTPAddr != "127.0.0.1:8080" || c.LogLevel != "info" || c.ShutdownTimeout != 15*time.Second ||
				c.ShutdownDelay != 0 || !filepath.IsAbs(c.DataDir) || filepath.Base(c.DataDir) != "nines-data" {
				t.Fatalf("defaults: %+v", c)
			}
			if c.PublicURL != "http://127.0.0.1:8080" || !c.Embedded() {
				t.Fatalf("derived: %q embedded=%v", c.PublicURL, c.Embedded())
			}
		}},
		{name: "environment", env: map[string]string{
			"NINES_HTTP_ADDR": "127.0.0.1:9999", "NINES_REPLICA_URLS": "postgres://r1/n,postgres://r2/n",
			"NINES_DATABASE_URL": "postgres://db/n", "NINES_SHUTDOWN_DELAY": "5s", "NINES_BOOTSTRAP_ADMIN_TOKEN": goodTok,
			"NINES_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.7",
		}, check: func(t *testing.T, c *Config) {
			if len(c.TrustedProxyPrefixes()) != 2 || c.TrustedProxyPrefixes()[1].String() != "192.0.2.7/32" {
				t.Fatalf("trusted proxies from env: %v %v", c.TrustedProxies, c.TrustedProxyPrefixes())
			}
			if c.HTTPAddr != "127.0.0.1:9999" || len(c.ReplicaURLs) != 2 || c.ShutdownDelay != 5*time.Second ||
				c.BootstrapAdminToken.Reveal() != goodTok || c.Embedded() {
				t.Fatalf("from env: %+v", c)
			}
		}},
		{name: "trusted proxies flag", args: []string{"--trusted-proxies=2001:db8::/32,10.1.2.3"}, check: func(t *testing.T, c *Config) {
			if got := fmt.Sprint(c.TrustedProxyPrefixes()); got != "[2001:db8::/32 10.1.2.3/32]" {
				t.Fatalf("trusted proxies from flag: %s", got)
			}
		}},
		{name: "instance tag from env and flag", args: []string{"--instance-tag=login-b"},
			env: map[string]string{"NINES_INSTANCE_TAG": "login-a"}, check: func(t *testing.T, c *Config) {
				if c.InstanceTag != "login-b" {
					t.Fatalf("instance tag: %q", c.InstanceTag)
				}
			}},
		{name: "instance tag from env", env: map[string]string{"NINES_INSTANCE_TAG": "login-a"}, check: func(t *testing.T, c *Config) {
			if c.InstanceTag != "login-a" {
				t.Fatalf("instance tag: %q", c.InstanceTag)
			}
		}},
		{name: "flag beats environment", args: []string{"--http-addr=127.0.0.1:7000", "--log-level=debug"},
			env: map[string]string{"NINES_HTTP_ADDR": "127.0.0.1:9999"}, check: func(t *testing.T, c *Config) {
				if c.HTTPAddr != "127.0.0.1:7000" || c.LogLevel != "debug" {
					t.Fatalf("flags: %+v", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var c cli
			c.Environ = []string{}
			p, err := kong.New(&c, kong.Exit(func(int) { t.Fatal("kong exited") }))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			tt.check(t, &c.Config)
		})
	}
}

func TestKongRunsValidate(t *testing.T) {
	type cli struct {
		Config `embed:""`
	}
	var c cli
	c.Environ = []string{}
	p, err := kong.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse([]string{"--log-level=loud", "--zone=Z"})
	if got := problemSettings(errors.Unwrap(err)); !slices.Equal(got, []string{"NINES_ZONE", "NINES_LOG_LEVEL"}) &&
		!slices.Equal(problemSettings(err), []string{"NINES_ZONE", "NINES_LOG_LEVEL"}) {
		t.Fatalf("err = %v", err)
	}
}

// TestValidateReplicaOnly pins the login role's rules (ReplicaOnly, set by `nines serve
// --role=login`): replicas only, never the primary; an external NATS; the deployment's
// KEK. Every problem is reported at once.
func TestValidateReplicaOnly(t *testing.T) {
	kekFile := writeFile(t, goodKEK+"\n")
	login := func() Config {
		c := valid()
		c.ReplicaOnly = true
		c.ReplicaURLs = []string{"postgres://r1/n", "postgres://r2/n"}
		c.NATSURL = "nats://a:4222"
		c.KEK = Secret(goodKEK)
		return c
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // settings with a problem, in order; nil = valid
	}{
		{name: "replicas, nats and kek are valid", modify: func(*Config) {}},
		{name: "kek from a file", modify: func(c *Config) { c.KEK, c.KEKFile = "", kekFile }},
		{name: "one replica, blank entries dropped", modify: func(c *Config) { c.ReplicaURLs = []string{"", " postgres://r1/n "} }},
		{name: "primary set", modify: func(c *Config) { c.DatabaseURL = "postgres://db/n" }, want: []string{"NINES_DATABASE_URL"}},
		{name: "invalid primary set", modify: func(c *Config) { c.DatabaseURL = "mysql://db/n" },
			want: []string{"NINES_DATABASE_URL", "NINES_DATABASE_URL"}},
		{name: "no replicas", modify: func(c *Config) { c.ReplicaURLs = nil }, want: []string{"NINES_REPLICA_URLS"}},
		{name: "only blank replicas", modify: func(c *Config) { c.ReplicaURLs = []string{"", " "} }, want: []string{"NINES_REPLICA_URLS"}},
		{name: "replica not postgres", modify: func(c *Config) { c.ReplicaURLs = []string{"http://r1"} }, want: []string{"NINES_REPLICA_URLS"}},
		{name: "no nats", modify: func(c *Config) { c.NATSURL = "" }, want: []string{"NINES_NATS_URL"}},
		{name: "blank nats", modify: func(c *Config) { c.NATSURL = "  " }, want: []string{"NINES_NATS_URL"}},
		{name: "no kek", modify: func(c *Config) { c.KEK = "" }, want: []string{"NINES_KEK_FILE"}},
		{name: "bad kek", modify: func(c *Config) { c.KEK = Secret(shortKEK) }, want: []string{"NINES_KEK"}},
		{name: "instance tag", modify: func(c *Config) { c.InstanceTag = "login-a" }},
		{name: "bad instance tag", modify: func(c *Config) { c.InstanceTag = "login.a" }, want: []string{"NINES_INSTANCE_TAG"}},
		{name: "every problem at once", modify: func(c *Config) {
			c.DatabaseURL = "postgres://db/n"
			c.ReplicaURLs = nil
			c.NATSURL = ""
			c.KEK = ""
		}, want: []string{"NINES_DATABASE_URL", "NINES_REPLICA_URLS", "NINES_NATS_URL", "NINES_KEK_FILE"}},
		{name: "with the other roles' problems", modify: func(c *Config) {
			c.DatabaseURL = "postgres://db/n"
			c.NATSURL = ""
			c.LogLevel = "loud"
		}, want: []string{"NINES_DATABASE_URL", "NINES_NATS_URL", "NINES_LOG_LEVEL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := login()
			tt.modify(&c)
			for i := range 2 { // idempotent: the CLI validates twice
				err := c.Validate()
				if diff := cmp.Diff(tt.want, problemSettings(err)); diff != "" {
					t.Fatalf("Validate #%d: problems (-want +got):\n%s\nerror: %v", i+1, diff, err)
				}
				if tt.want == nil && err != nil {
					t.Fatalf("Validate #%d: unexpected error: %v", i+1, err)
				}
			}
			if c.Embedded() {
				t.Fatal("a replica-only config must never be the embedded SQLite")
			}
		})
	}

	// The same replicas without ReplicaOnly still need a primary: the rule is the login
	// role's, not a loosening for every role.
	c := login()
	c.ReplicaOnly = false
	if got := problemSettings(c.Validate()); !slices.Equal(got, []string{"NINES_REPLICA_URLS"}) {
		t.Fatalf("replicas without a primary and without ReplicaOnly: problems %v", got)
	}
}
