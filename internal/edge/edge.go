package edge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/clientip"
	"github.com/ninesid/nines/internal/edge/table"
)

// Config is what an edge needs.
type Config struct {
	// RoutesPath is the routing file; it is watched and reloaded when it changes.
	RoutesPath string
	// Region is this edge's region: it serves that region's login clusters first.
	Region string
	// StatePath is the file holding the operator's overrides (drains, weights,
	// failovers) across restarts; empty keeps them in memory only (tests).
	StatePath string
	// ControlToken is the bearer token of the control API (compared in constant time).
	ControlToken string
	// SelfControlURL is this edge's control API base URL, to recognise itself in the
	// table's edges lists (the pre-scale check reads its own load directly).
	SelfControlURL string
	// ClientIP finds the client address behind trusted proxies in front of the edge.
	ClientIP clientip.Resolver
	// Logger receives the event and audit lines; nil: slog.Default().
	Logger *slog.Logger
	// ReloadEvery is how often the routing file is checked for a change; 0: 1s.
	ReloadEvery time.Duration
	// Transport sends to the backends; nil: a pooled transport (newTransport).
	Transport http.RoundTripper
	// PeerClient asks other edges for their load (pre-scale check); nil: a client with
	// a 2s timeout.
	PeerClient *http.Client
}

// Edge is a running edge: routing, health, traffic control. Create it with New, run
// its background work with Run, serve Handler on the public address and
// ControlHandler on the control address.
type Edge struct {
	cfg         Config
	logger      *slog.Logger
	rt          atomic.Pointer[routing]
	state       *stateStore
	events      *eventLog
	budget      *budget
	metrics     *edgeMetrics
	base        http.RoundTripper
	probeClient *http.Client
	peerClient  *http.Client
	proxy       *httputil.ReverseProxy
	clientIP    clientip.Resolver
	token       []byte
	started     time.Time

	statsMu sync.Mutex
	stats   map[string]*clusterStats

	reloadMu sync.Mutex // serialises reloads; guards fileSum, runCtx
	fileSum  [32]byte
	runCtx   context.Context

	shiftMu      sync.Mutex // guards shift
	shift        *shiftJob  // the running (or last) shift
	shiftStartMu sync.Mutex // held while a shift starts, and by a change that stops it (withShiftStopped)
}

// New loads the routing table and the state file and returns an edge ready to serve;
// the health probes start with Run.
func New(cfg Config) (*Edge, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = time.Second
	}
	raw, tbl, err := readTable(cfg.RoutesPath)
	if err != nil {
		return nil, err
	}
	st, err := openState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	e := &Edge{
		cfg: cfg, logger: cfg.Logger, state: st, events: &eventLog{logger: cfg.Logger},
		budget:   newBudget(tbl.Retry.BudgetRatio, tbl.Retry.BudgetBurst),
		metrics:  newEdgeMetrics(),
		base:     cfg.Transport,
		clientIP: cfg.ClientIP, token: []byte(cfg.ControlToken), started: time.Now(),
		stats:   map[string]*clusterStats{},
		fileSum: sha256.Sum256(raw),
	}
	if e.base == nil {
		e.base = newTransport()
	}
	e.probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil,
		MaxResponseHeaderBytes: 64 << 10}, CheckRedirect: noRedirect}
	e.peerClient = cfg.PeerClient
	if e.peerClient == nil {
		e.peerClient = &http.Client{Timeout: 2 * time.Second, CheckRedirect: noRedirect}
	}
	e.proxy = e.newProxy()
	e.rt.Store(buildRouting(tbl, cfg.Region, nil, e.clusterStats))
	return e, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// readTable reads and parses the routing file, returning its bytes too.
func readTable(path string) ([]byte, *table.Table, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &table.Error{File: path, Problems: []string{"cannot read the file: " + errors.Unwrap(err).Error()}}
	}
	if len(raw) > table.MaxFileBytes {
		return nil, nil, &table.Error{File: path, Problems: []string{"the file is too large"}}
	}
	tbl, err := table.Parse(raw)
	if te := (*table.Error)(nil); errors.As(err, &te) {
		te.File = path
	}
	return raw, tbl, err
}

// clusterStats returns the statistics of a cluster (region/cluster), kept across reloads.
func (e *Edge) clusterStats(key string) *clusterStats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	s := e.stats[key]
	if s == nil {
		s = &clusterStats{win: newWindow(10 * time.Second)}
		e.stats[key] = s
	}
	return s
}

// Collectors are the edge's Prometheus collectors, for the process registry.
func (e *Edge) Collectors() []prometheus.Collector {
	return append(e.metrics.collectors(), stateCollector{e})
}

// Run probes the backends and watches the routing file until ctx is done.
func (e *Edge) Run(ctx context.Context) {
	e.reloadMu.Lock()
	e.runCtx = ctx
	for _, b := range e.rt.Load().sortedBackends() {
		e.startProber(ctx, b)
	}
	e.reloadMu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { e.watch(ctx) })
	<-ctx.Done()
	e.stopShift()
	wg.Wait()
	e.reloadMu.Lock()
	for _, b := range e.rt.Load().backends {
		if b.stop != nil {
			b.stop()
		}
	}
	e.reloadMu.Unlock()
}

func (e *Edge) startProber(ctx context.Context, b *backend) {
	if b.stop != nil {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	b.stop = cancel
	go e.runProber(pctx, b)
}

// watch reloads the routing file when its content changes.
func (e *Edge) watch(ctx context.Context) {
	t := time.NewTicker(e.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		raw, err := os.ReadFile(e.cfg.RoutesPath)
		if err != nil {
			continue // a file being replaced; Reload reports a lasting problem
		}
		e.reloadMu.Lock()
		same := sha256.Sum256(raw) == e.fileSum
		e.reloadMu.Unlock()
		if !same {
			_, _ = e.Reload("file changed")
		}
	}
}

// ReloadResult is what a reload did.
type ReloadResult struct {
	Changed  bool     `json:"changed"`
	Added    []string `json:"added,omitempty"`   // backend URLs
	Removed  []string `json:"removed,omitempty"` // backend URLs
	Problems []string `json:"problems,omitempty"`
}

// Reload reads the routing file again; a file with problems is refused (the running
// table stays) and reported. Backends whose identity did not change keep their state.
func (e *Edge) Reload(why string) (ReloadResult, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	raw, tbl, err := readTable(e.cfg.RoutesPath)
	if err != nil {
		var te *table.Error
		res := ReloadResult{}
		if errors.As(err, &te) {
			res.Problems = te.Problems
		}
		e.metrics.reloads.WithLabelValues("refused").Inc()
		e.events.add(Event{Kind: KindReload, Action: "reload", Target: e.cfg.RoutesPath, Result: "refused",
			Detail: why + "; the running table is kept: " + strings.Join(res.Problems, "; ")})
		return res, err
	}
	sum := sha256.Sum256(raw)
	if sum == e.fileSum && why != "control API" {
		return ReloadResult{}, nil
	}
	old := e.rt.Load()
	rt := buildRouting(tbl, e.cfg.Region, old, e.clusterStats)
	e.budget.set(tbl.Retry.BudgetRatio, tbl.Retry.BudgetBurst)
	e.rt.Store(rt)
	e.fileSum = sum
	res := ReloadResult{Changed: true}
	for _, b := range rt.removed(old) {
		if b.stop != nil {
			b.stop()
		}
		e.metrics.forget(b)
		res.Removed = append(res.Removed, b.base)
	}
	for _, b := range rt.added(old) {
		if e.runCtx != nil {
			e.startProber(e.runCtx, b)
		}
		res.Added = append(res.Added, b.base)
	}
	sort.Strings(res.Added)
	sort.Strings(res.Removed)
	e.metrics.reloads.WithLabelValues("ok").Inc()
	e.events.add(Event{Kind: KindReload, Action: "reload", Target: e.cfg.RoutesPath, Result: "ok",
		Detail: fmt.Sprintf("%s; %d backends added, %d removed", why, len(res.Added), len(res.Removed))})
	return res, nil
}

// Ready reports whether the edge has a usable login cluster in its own region (for its
// readiness: an edge whose region is down still serves, through failover, so this is
// "degraded", not unready).
func (e *Edge) Ready() (ownRegionUp bool) {
	rt, st, now := e.rt.Load(), e.state.load(), time.Now()
	for _, c := range rt.clustersOf(e.cfg.Region) {
		if clusterAvailable(c, st, now) {
			return true
		}
	}
	return false
}

func sortedClusterKeys(m map[string]*cluster) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// splitKey splits region/name.
func splitKey(k string) (string, string) {
	r, n, _ := strings.Cut(k, "/")
	return r, n
}
