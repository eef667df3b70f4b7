package config

import (
	"os"
	"reflect"
	"sort"
	"strings"
)

// EnvPrefix starts every environment variable nines reads.
const EnvPrefix = "NINES_"

// ClientEnv are the NINES_ variables read by client commands (nines apply), not by the
// server. They are known names, so a shell that sets them for apply can still start a
// server without an "unknown setting" problem.
var ClientEnv = []string{"NINES_SERVER", "NINES_ADMIN_TOKEN"}

// ServeEnv are the NINES_ variables of the serve command's own flags (--role).
var ServeEnv = []string{"NINES_ROLE"}

// KnownEnv returns every NINES_ environment variable name the nines binary reads,
// sorted: the Config fields' plus ServeEnv and ClientEnv.
func KnownEnv() []string {
	names := append(append([]string(nil), ServeEnv...), ClientEnv...)
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if env := t.Field(i).Tag.Get("env"); env != "" {
			names = append(names, strings.Split(env, ",")...)
		}
	}
	sort.Strings(names)
	return names
}

// unknownEnv returns a problem for every variable in environ that starts with NINES_ but
// is not a known name, with the closest known name as a suggestion when one is near.
func unknownEnv(environ []string) Problems {
	known := KnownEnv()
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		isKnown[k] = true
	}
	var ps Problems
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || isKnown[name] || seen[name] {
			continue
		}
		seen[name] = true
		detail := "unknown setting"
		if s := closest(name, known); s != "" {
			detail += " (did you mean " + s + "?)"
		}
		ps = append(ps, Problem{Setting: name, Detail: detail})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Setting < ps[j].Setting })
	return ps
}

func (c *Config) environ() []string {
	if c.Environ != nil {
		return c.Environ
	}
	return os.Environ()
}

// closest returns the known name within a small edit distance of name, or "".
func closest(name string, known []string) string {
	best, bestD := "", 4 // suggest only within 3 edits
	for _, k := range known {
		if d := distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b (bytes; names are ASCII).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
