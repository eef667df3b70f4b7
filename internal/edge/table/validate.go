package table

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ninesid/nines/internal/affinity"
	"github.com/ninesid/nines/internal/tenant"
)

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// problems collects problems, each prefixed with its place in the file.
type problems []string

func (ps *problems) add(at, format string, args ...any) {
	*ps = append(*ps, at+": "+fmt.Sprintf(format, args...))
}

// validate returns every problem of t, each with its path in the file
// (shards[0].regions[1].clusters[0].backends[2].url: …).
func (t *Table) validate() []string {
	var ps problems
	if len(t.Shards) == 0 {
		ps.add("shards", "declare at least one shard")
	}
	shards := map[string]bool{}
	// A cluster is a physical thing in a region: its name is unique in the region,
	// whatever shard it serves, so that "drain cluster X in region R" is unambiguous.
	clusterAt := map[string]string{}
	// A backend process belongs to one login cluster (clusters never share processes).
	ownerOf := map[string]string{}
	// An instance tag names one process, across the whole table.
	inst := &instances{byTag: map[string]instanceUse{}, byURL: map[string]instanceUse{}}
	for i, s := range t.Shards {
		at := fmt.Sprintf("shards[%d]", i)
		switch {
		case !dnsLabel.MatchString(s.Name):
			ps.add(at+".name", "%q is not a DNS label (lower-case letters, digits and inner '-')", s.Name)
		case shards[s.Name]:
			ps.add(at+".name", "shard %q is declared twice", s.Name)
		}
		shards[s.Name] = true
		t.validateShard(at, s, clusterAt, ownerOf, inst, &ps)
	}
	t.validateTenants(shards, &ps)
	for _, h := range sortedKeys(t.Hosts) {
		at := "hosts." + h
		if !hostName.MatchString(h) || len(h) > 253 {
			ps.add(at, "%q is not a lower-case host name without a port", h)
		}
		if !tenant.ValidSlug(t.Hosts[h]) {
			ps.add(at, "%q is not a tenant slug", t.Hosts[h])
		}
	}
	t.validateSettings(&ps)
	return ps
}

func (t *Table) validateShard(at string, s Shard, clusterAt, ownerOf map[string]string, inst *instances, ps *problems) {
	if len(s.Regions) == 0 {
		ps.add(at+".regions", "a shard runs in at least one region")
	}
	names := map[string]bool{}
	primaries := 0
	for _, r := range s.Regions {
		names[r.Name] = true
	}
	seen := map[string]bool{}
	for j, r := range s.Regions {
		rat := fmt.Sprintf("%s.regions[%d]", at, j)
		switch {
		case !dnsLabel.MatchString(r.Name):
			ps.add(rat+".name", "%q is not a DNS label", r.Name)
		case seen[r.Name]:
			ps.add(rat+".name", "region %q is declared twice in shard %q", r.Name, s.Name)
		}
		seen[r.Name] = true
		if r.Primary {
			primaries++
			if r.Admin == nil || len(r.Admin.Backends) == 0 {
				ps.add(rat+".admin", "the primary region serves the admin tier: list its admin backends")
			} else {
				validatePool(rat+".admin", *r.Admin, ps)
				for k, b := range r.Admin.Backends {
					if b.Instance != "" {
						ps.add(fmt.Sprintf("%s.admin.backends[%d].instance", rat, k),
							"only login backends take an instance tag (the admin tier keeps no flow state)")
					}
				}
			}
		} else if r.Admin != nil {
			ps.add(rat+".admin", "only the primary region runs the admin tier (admin traffic always goes there)")
		}
		for k, f := range r.Failover {
			fat := fmt.Sprintf("%s.failover[%d]", rat, k)
			switch {
			case f == r.Name:
				ps.add(fat, "a region does not fail over to itself")
			case !names[f]:
				ps.add(fat, "%q is not a region of shard %q", f, s.Name)
			case slices.Index(r.Failover, f) != k:
				ps.add(fat, "%q is listed twice", f)
			}
		}
		for k, e := range r.Edges {
			if err := checkURL(e); err != nil {
				ps.add(fmt.Sprintf("%s.edges[%d]", rat, k), "%v", err)
			}
		}
		if len(r.Clusters) == 0 {
			ps.add(rat+".clusters", "a region runs at least one login cluster (two for failover)")
		}
		for k, c := range r.Clusters {
			cat := fmt.Sprintf("%s.clusters[%d]", rat, k)
			key := r.Name + "/" + c.Name
			if prev, ok := clusterAt[key]; ok {
				ps.add(cat+".name", "cluster %q of region %q is also declared at %s: cluster names are unique in a region", c.Name, r.Name, prev)
			} else {
				clusterAt[key] = cat
			}
			validateCluster(cat, c, ps)
			inst.addCluster(cat, c, ps)
			for _, u := range clusterURLs(c) {
				if prev, ok := ownerOf[u]; ok && prev != key {
					ps.add(cat, "backend %s is also in cluster %s: a process belongs to one cluster", u, prev)
				}
				ownerOf[u] = key
			}
		}
	}
	if len(s.Regions) > 0 && primaries != 1 {
		ps.add(at+".regions", "exactly one region must be primary (found %d)", primaries)
	}
}

func validateCluster(at string, c Cluster, ps *problems) {
	if !dnsLabel.MatchString(c.Name) {
		ps.add(at+".name", "%q is not a DNS label", c.Name)
	}
	if c.Weight != nil && (*c.Weight < 0 || *c.Weight > MaxWeight) {
		ps.add(at+".weight", "must be from 0 to %d (it is %d)", MaxWeight, *c.Weight)
	}
	if !(c.CapacityRPS > 0) || c.CapacityRPS > 1e9 {
		ps.add(at+".capacity_rps", "give the requests per second the cluster is scaled to take (above 0); the pre-scale check needs it")
	}
	for i, ch := range c.Channels {
		switch {
		case !slices.Contains(Channels, ch):
			ps.add(fmt.Sprintf("%s.channels[%d]", at, i), "%q is not a release channel (%s)", ch, strings.Join(Channels, ", "))
		case slices.Index(c.Channels, ch) != i:
			ps.add(fmt.Sprintf("%s.channels[%d]", at, i), "%q is listed twice", ch)
		}
	}
	if len(c.Backends) == 0 {
		ps.add(at+".backends", "a login cluster needs at least one backend")
	}
	validatePool(at, Pool{Backends: c.Backends}, ps)
	for _, name := range sortedKeys(c.Services) {
		sat := at + ".services." + name
		if !slices.Contains(Services, name) {
			ps.add(sat, "%q is not a service (%s)", name, strings.Join(Services, ", "))
			continue
		}
		if len(c.Services[name].Backends) == 0 {
			ps.add(sat+".backends", "list the service's backends, or leave the service out to use the cluster's")
		}
		validatePool(sat, c.Services[name], ps)
	}
}

// instanceUse is where a backend with an instance tag (or a backend URL) was first
// seen: its canonical URL, its tag ("" for none) and its place in the file.
type instanceUse struct{ url, tag, at string }

// instances checks the instance tags of the login backends across the whole table: each
// tag valid (affinity.ValidTag), a tag on one process only, and every listing of one
// process naming the same tag.
type instances struct {
	byTag map[string]instanceUse // tag → its first listing
	byURL map[string]instanceUse // canonical URL → its first listing
}

// addCluster checks the instance tags of c's default and service backends (services in
// name order), at cat.
func (in *instances) addCluster(cat string, c Cluster, ps *problems) {
	for i, b := range c.Backends {
		in.add(fmt.Sprintf("%s.backends[%d]", cat, i), b, ps)
	}
	for _, name := range sortedKeys(c.Services) {
		for i, b := range c.Services[name].Backends {
			in.add(fmt.Sprintf("%s.services.%s.backends[%d]", cat, name, i), b, ps)
		}
	}
}

// add checks the instance tag of the backend b listed at bat.
func (in *instances) add(bat string, b Backend, ps *problems) {
	if b.Instance != "" && !affinity.ValidTag(b.Instance) {
		ps.add(bat+".instance", "%q is not an instance tag (1 to %d characters of a-z, 0-9 and '-', not starting with '-')",
			b.Instance, affinity.MaxTagLen)
		return
	}
	if checkURL(b.URL) != nil {
		return // reported by validatePool
	}
	u := CanonicalURL(b.URL)
	use := instanceUse{url: u, tag: b.Instance, at: bat}
	if prev, ok := in.byURL[u]; !ok {
		in.byURL[u] = use
	} else if prev.tag != b.Instance {
		ps.add(bat+".instance", "backend %s names instance %q here and %q at %s: every listing of a process names the same instance",
			u, b.Instance, prev.tag, prev.at)
		return
	}
	if b.Instance == "" {
		return
	}
	if prev, ok := in.byTag[b.Instance]; !ok {
		in.byTag[b.Instance] = use
	} else if prev.url != u {
		ps.add(bat+".instance", "instance %q is also the tag of backend %s at %s: a tag names one process",
			b.Instance, prev.url, prev.at)
	}
}

// clusterURLs lists the canonical URLs of every backend of c, each once.
func clusterURLs(c Cluster) []string {
	seen := map[string]bool{}
	var out []string
	add := func(bs []Backend) {
		for _, b := range bs {
			if u := CanonicalURL(b.URL); !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	add(c.Backends)
	for _, name := range sortedKeys(c.Services) {
		add(c.Services[name].Backends)
	}
	return out
}

func validatePool(at string, p Pool, ps *problems) {
	urls := map[string]bool{}
	for i, b := range p.Backends {
		bat := fmt.Sprintf("%s.backends[%d]", at, i)
		if err := checkURL(b.URL); err != nil {
			ps.add(bat+".url", "%v", err)
		} else if u := CanonicalURL(b.URL); urls[u] {
			ps.add(bat+".url", "%q is listed twice", b.URL)
		} else {
			urls[u] = true
		}
		if !dnsLabel.MatchString(b.Zone) {
			ps.add(bat+".zone", "give the backend's availability zone as a DNS label (zone drains need it); got %q", b.Zone)
		}
	}
}

// checkURL accepts an absolute http(s) URL with a host and an explicit or implied port,
// and no path, query, fragment or user information: a backend's base URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must be an http:// or https:// URL", s)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q must not hold user information", s)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return fmt.Errorf("%q must be a base URL (scheme, host, port) without path or query", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port must be from 1 to 65535", s)
		}
	}
	return nil
}

// CanonicalURL is a valid backend URL without a trailing slash.
func CanonicalURL(s string) string { return strings.TrimRight(s, "/") }

func (t *Table) validateTenants(shards map[string]bool, ps *problems) {
	switch {
	case t.Tenants.DefaultShard == "":
		ps.add("tenants.default_shard", "name the shard of every tenant not listed in tenants.shards")
	case !shards[t.Tenants.DefaultShard]:
		ps.add("tenants.default_shard", "%q is not a shard of this file", t.Tenants.DefaultShard)
	}
	if !slices.Contains(Channels, t.Tenants.DefaultChannel) {
		ps.add("tenants.default_channel", "%q is not a release channel (%s)", t.Tenants.DefaultChannel, strings.Join(Channels, ", "))
	}
	for _, slug := range sortedKeys(t.Tenants.Shards) {
		at := "tenants.shards." + slug
		if !tenant.ValidSlug(slug) {
			ps.add(at, "%q is not a tenant slug", slug)
		}
		if !shards[t.Tenants.Shards[slug]] {
			ps.add(at, "%q is not a shard of this file", t.Tenants.Shards[slug])
		}
	}
	for _, slug := range sortedKeys(t.Tenants.Channels) {
		at := "tenants.channels." + slug
		if !tenant.ValidSlug(slug) {
			ps.add(at, "%q is not a tenant slug", slug)
		}
		if ch := t.Tenants.Channels[slug]; !slices.Contains(Channels, ch) {
			ps.add(at, "%q is not a release channel (%s)", ch, strings.Join(Channels, ", "))
		}
	}
	// Every tenant's channel must be served somewhere in its shard, or its sign-ins
	// would have nowhere to go.
	for _, slug := range append(sortedKeys(t.Tenants.Channels), "") {
		ch, sh := t.Tenants.DefaultChannel, t.Tenants.DefaultShard
		if slug != "" {
			ch = t.Tenants.Channels[slug]
			if s, ok := t.Tenants.Shards[slug]; ok {
				sh = s
			}
		}
		s, ok := t.Shard(sh)
		if !ok || !slices.Contains(Channels, ch) {
			continue
		}
		if !shardServes(s, ch) {
			at := "tenants.default_channel"
			if slug != "" {
				at = "tenants.channels." + slug
			}
			ps.add(at, "no login cluster of shard %q serves channel %q", sh, ch)
		}
	}
}

func shardServes(s *Shard, ch string) bool {
	for _, r := range s.Regions {
		for _, c := range r.Clusters {
			if c.Serves(ch) {
				return true
			}
		}
	}
	return false
}

func (t *Table) validateSettings(ps *problems) {
	for _, r := range []struct {
		at string
		l  Limits
	}{{"routes.login", t.Routes.Login}, {"routes.admin", t.Routes.Admin}} {
		if r.l.Timeout <= 0 {
			ps.add(r.at+".timeout", "must be positive")
		}
		if r.l.TryTimeout <= 0 || r.l.TryTimeout > r.l.Timeout {
			ps.add(r.at+".try_timeout", "must be positive and at most the timeout")
		}
		if r.l.MaxBodyBytes < 0 || r.l.MaxBodyBytes > 64<<20 {
			ps.add(r.at+".max_body_bytes", "must be from 0 to %d", 64<<20)
		}
	}
	h := t.Health
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, "?# ") {
		ps.add("health.path", "%q must be an absolute path without query", h.Path)
	}
	if h.Interval < Duration(10e6) {
		ps.add("health.interval", "must be at least 10ms")
	}
	if h.Timeout <= 0 || h.Timeout > h.Interval {
		ps.add("health.timeout", "must be positive and at most the interval")
	}
	if h.MaxInterval < h.Interval {
		ps.add("health.max_interval", "must be at least the interval")
	}
	if h.UnhealthyAfter < 1 || h.UnhealthyAfter > 100 {
		ps.add("health.unhealthy_after", "must be from 1 to 100")
	}
	if h.HealthyAfter < 1 || h.HealthyAfter > 100 {
		ps.add("health.healthy_after", "must be from 1 to 100")
	}
	o := t.Outlier
	if o.Consecutive < 1 || o.Consecutive > 1000 {
		ps.add("outlier.consecutive_failures", "must be from 1 to 1000")
	}
	if o.Window < Duration(1e9) || o.Window > Duration(600e9) {
		ps.add("outlier.window", "must be from 1s to 10m")
	}
	if o.MinRequests < 1 {
		ps.add("outlier.min_requests", "must be at least 1")
	}
	if !(o.ErrorRate > 0 && o.ErrorRate <= 1) {
		ps.add("outlier.error_rate", "must be above 0 and at most 1")
	}
	if o.BaseEjection <= 0 {
		ps.add("outlier.base_ejection", "must be positive")
	}
	if o.MaxEjection < o.BaseEjection {
		ps.add("outlier.max_ejection", "must be at least base_ejection")
	}
	if !(o.MaxEjectedShare > 0 && o.MaxEjectedShare <= 1) {
		ps.add("outlier.max_ejected_share", "must be above 0 and at most 1")
	}
	if !(t.Retry.BudgetRatio > 0 && t.Retry.BudgetRatio <= 1) {
		ps.add("retry.budget_ratio", "must be above 0 and at most 1")
	}
	if t.Retry.BudgetBurst < 1 || t.Retry.BudgetBurst > 10000 {
		ps.add("retry.budget_burst", "must be from 1 to 10000")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
