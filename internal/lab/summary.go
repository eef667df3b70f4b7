package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Memory is what a lab's processes use, read from /proc: RSS counts the pages each
// process has resident (shared pages once per process, so PostgreSQL's shared buffers
// count once per backend); PSS shares them out and adds up to what the machine spends.
type Memory struct {
	Processes int // operating-system processes, PostgreSQL backends and the supervisor included
	RSS, PSS  uint64
	ByKind    map[string]KindMemory
}

// KindMemory is the memory of one kind of process.
type KindMemory struct {
	Processes int
	RSS, PSS  uint64
}

// MeasureMemory adds up the memory of every running process of st, of their
// descendants (PostgreSQL's backends, each in a session of its own) and of the
// supervisor.
func MeasureMemory(st State) Memory {
	kindOf := map[int]string{}
	for _, p := range st.Processes {
		if p.PID != 0 {
			kindOf[p.PID] = p.Kind
		}
	}
	m := Memory{ByKind: map[string]KindMemory{}}
	add := func(pid int, kind string) {
		rss, pss, ok := procMemory(pid)
		if !ok {
			return
		}
		m.Processes++
		m.RSS += rss
		m.PSS += pss
		k := m.ByKind[kind]
		k.Processes++
		k.RSS += rss
		k.PSS += pss
		m.ByKind[kind] = k
	}
	if st.SupervisorP != 0 && alive(st.SupervisorP) {
		add(st.SupervisorP, "supervisor")
	}
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			parent[pid] = ppidOf(pid)
		}
	}
	for pid := range parent {
		if pid == st.SupervisorP {
			continue
		}
		for a, depth := pid, 0; a > 1 && depth < 8; a, depth = parent[a], depth+1 {
			if kind, ok := kindOf[a]; ok {
				add(pid, kind)
				break
			}
		}
	}
	return m
}

// ppidOf is the parent of pid (0 if unknown).
func ppidOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // state ppid …
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// procMemory reads a process's resident and proportional set sizes in bytes.
func procMemory(pid int) (rss, pss uint64, ok bool) {
	rss, ok = kbField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	if !ok {
		return 0, 0, false
	}
	pss, _ = kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	return rss, pss, true
}

func kbField(path, key string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				return 0, false
			}
			n, err := strconv.ParseUint(fs[0], 10, 64)
			return n * 1024, err == nil
		}
	}
	return 0, false
}

// MiB formats bytes in MiB.
func MiB(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// PrintSummary writes what a ready lab is: its processes, URLs and memory.
func PrintSummary(w io.Writer, st State) {
	mem := MeasureMemory(st)
	counts := map[string]int{}
	running := 0
	for _, p := range st.Processes {
		counts[p.Kind]++
		if p.PID != 0 && alive(p.PID) {
			running++
		}
	}
	sup := fmt.Sprintf("supervisor pid %d (Toxiproxy, control API)", st.SupervisorP)
	if st.SupervisorP == 0 || !alive(st.SupervisorP) {
		sup = fmt.Sprintf("supervisor pid %d NOT RUNNING: the lab crashed; `nines lab down --dir %s` cleans it", st.SupervisorP, st.Dir)
	}
	fmt.Fprintf(w, "nines lab %q in %s: %s, started %s\n", st.Name, st.Dir, st.Status, st.StartedAt.Local().Format(time.DateTime))
	fmt.Fprintf(w, "  %d processes (%d running): %s; %s\n", len(st.Processes), running, kindCounts(counts), sup)
	if st.PublicURL != "" {
		fmt.Fprintf(w, "  public URL  %s (every region's; each region's users enter through its edge)\n", st.PublicURL)
	}
	if iss := labIssuer(st); iss != "" {
		fmt.Fprintf(w, "  issuer      %s\n", iss)
	}
	for _, r := range st.Regions {
		role := "secondary"
		if r.Primary {
			role = "primary"
		}
		fmt.Fprintf(w, "  region %s (%s, zones %s): edge %s (control %s)\n", r.Name, role, strings.Join(r.Zones, ", "), r.EdgeURL, r.EdgeCtl)
		for _, c := range r.Clusters {
			fmt.Fprintf(w, "    cluster %s: %d login processes\n", c.Name, len(c.LoginURL))
		}
		if r.Issuer != "" && r.Issuer != labIssuer(st) {
			fmt.Fprintf(w, "    issuer %s (not the lab's one issuer)\n", r.Issuer)
		}
	}
	fmt.Fprintf(w, "  admin API   %s (token: admin_token in %s)\n", st.AdminURL, filepath.Join(st.Dir, StateFile))
	fmt.Fprintf(w, "  Toxiproxy   http://%s (%d proxies)\n", st.Toxiproxy, len(st.Proxies))
	fmt.Fprintf(w, "  control API http://%s\n", st.Control)
	if st.Client.ID != "" {
		fmt.Fprintf(w, "  tenant %s: client %s (redirect URI %s, not served), %d users\n", st.Tenant, st.Client.ID,
			st.Client.RedirectURI, len(st.Users))
	}
	fmt.Fprintf(w, "  memory: %s RSS, %s PSS over %d OS processes (PostgreSQL backends included)\n",
		MiB(mem.RSS), MiB(mem.PSS), mem.Processes)
	kinds := make([]string, 0, len(mem.ByKind))
	for k := range mem.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		km := mem.ByKind[k]
		fmt.Fprintf(w, "    %-10s %3d processes  %8s RSS  %8s PSS\n", k, km.Processes, MiB(km.RSS), MiB(km.PSS))
	}
	fmt.Fprintf(w, "  state %s; stop with: nines lab down --dir %s\n", filepath.Join(st.Dir, StateFile), st.Dir)
}

// labIssuer is the tenant's one issuer: the regions' Issuer (the primary region's, should
// they differ, as in a state written before the lab had one public URL); "" before the
// lab has a tenant.
func labIssuer(st State) string {
	var iss string
	for _, r := range st.Regions {
		if r.Issuer != "" && (iss == "" || r.Primary) {
			iss = r.Issuer
		}
	}
	return iss
}

func kindCounts(counts map[string]int) string {
	var parts []string
	for _, k := range []string{KindLogin, KindAdmin, KindWorker, KindNATS, KindEdge, KindPostgres} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
