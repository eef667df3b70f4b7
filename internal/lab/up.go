package lab

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Up, Run and Detach.
type Options struct {
	// Topology is the lab file; Dir the lab directory. Both are made absolute.
	Topology string
	Dir      string
	// Binary is the nines executable the processes run (default: os.Executable()).
	Binary string
	// Out receives progress lines and the summary.
	Out io.Writer
}

// Bounds of the start-up steps (a loaded 2-core machine is slow; none of these is a
// performance claim).
const (
	pgReadyTimeout    = 60 * time.Second
	ninesReadyTimeout = 120 * time.Second
	migrateTimeout    = 3 * time.Minute
	// seedTimeout bounds the tenant, client and users, plus seedPerUser per user (the
	// admin hashes each password with argon2id).
	seedTimeout = 2 * time.Minute
	seedPerUser = 100 * time.Millisecond
	// StartTimeout bounds a whole `lab up` (Detach waits this long).
	StartTimeout = 10 * time.Minute
	// controlStartTimeout bounds a restart through the control API.
	controlStartTimeout = 2 * time.Minute
)

// StatusFailed is the State.Status of a lab whose start failed: its processes were
// stopped and its directory kept for the logs (`lab down` or the next `lab up` removes
// it).
const StatusFailed = "failed"

// markerFile marks a directory as a lab directory: `lab up` and `lab down` remove only
// directories that hold it.
const markerFile = ".nines-lab"

// supervisor is a running lab: the plan, the processes, Toxiproxy and the control API.
type supervisor struct {
	opts    Options
	topo    Topology
	out     io.Writer
	pg      pgRunner
	toxi    *toxi
	p       *plan
	began   time.Time
	control net.Listener
	ctlSrv  *http.Server
	ctlTok  string
	toxLog  *os.File

	ctlMu sync.Map   // process name → *sync.Mutex: one control operation at a time per process
	mu    sync.Mutex // the State, the components' State entries and ports
	st    State
	ready bool
}

// Up prepares the lab directory (cleaning what a crashed lab left there) and runs the
// supervisor in this process until ctx ends (Ctrl-C, SIGTERM, `lab down`): the
// foreground `lab up`. ready is called once with the State when everything is up.
func Up(ctx context.Context, opts Options, ready func(State)) error {
	if err := normalize(&opts); err != nil {
		return err
	}
	if err := Prepare(opts.Dir, opts.Out); err != nil {
		return err
	}
	return Run(ctx, opts, ready)
}

func normalize(opts *Options) error {
	var err error
	if opts.Dir == "" {
		opts.Dir = DefaultDir()
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if opts.Topology, err = filepath.Abs(opts.Topology); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if opts.Binary == "" {
		if opts.Binary, err = os.Executable(); err != nil {
			return fmt.Errorf("lab: the nines executable: %w", err)
		}
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	return nil
}

// DefaultDir is the lab directory when --dir is not given.
func DefaultDir() string { return filepath.Join(os.TempDir(), "nines-lab") }

// Run is the supervisor, in a directory Prepare made: it starts the topology, calls
// ready with the State, keeps Toxiproxy and the control API serving and reports
// processes that exit, until ctx ends; then it stops everything (SIGTERM, then
// SIGKILL after a bound) and removes the directory. If the start fails it stops what
// it started, keeps the directory (logs) with State.Status "failed" and returns why.
func Run(ctx context.Context, opts Options, ready func(State)) (err error) {
	if err := normalize(&opts); err != nil {
		return err
	}
	topo, err := LoadTopology(opts.Topology)
	if err != nil {
		return err
	}
	s := &supervisor{opts: opts, topo: topo, out: opts.Out, began: time.Now()}
	defer func() {
		stopErr := s.stopAll()
		if err != nil && ctx.Err() == nil {
			s.setStatus(StatusFailed)
			err = errors.Join(err, stopErr, fmt.Errorf("lab: logs kept in %s; `nines lab down --dir %s` removes them",
				filepath.Join(opts.Dir, "logs"), opts.Dir))
			return
		}
		if rmErr := os.RemoveAll(opts.Dir); rmErr != nil {
			stopErr = errors.Join(stopErr, fmt.Errorf("lab: %w", rmErr))
		}
		err = errors.Join(err, stopErr)
		if err == nil {
			s.logf("stopped every process and removed %s", opts.Dir)
		}
	}()
	if err := s.start(ctx); err != nil {
		return err
	}
	st := s.state()
	if ready != nil {
		ready(st)
	}
	s.supervise(ctx)
	s.logf("stopping (%v)", context.Cause(ctx))
	return nil
}

func (s *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.out, "%s lab: %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// start brings everything up, tier by tier, writing the State after each step so that
// a crash at any point leaves a State naming every process started.
func (s *supervisor) start(ctx context.Context) error {
	dir := s.opts.Dir
	var err error
	if s.pg, err = newPGRunner(); err != nil {
		return err
	}
	if err := s.pg.checkReachable(dir); err != nil {
		return err
	}
	for _, d := range []string{"logs", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	if err := s.pg.mkdir(filepath.Join(dir, "pg")); err != nil {
		return err
	}
	adminTok, edgeTok, ctlTok, kek := token(), token(), token(), make([]byte, 32)
	_, _ = rand.Read(kek)
	s.ctlTok = ctlTok
	if err := os.WriteFile(filepath.Join(dir, "kek"), []byte(base64.StdEncoding.EncodeToString(kek)+"\n"), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	toxLog, err := os.OpenFile(filepath.Join(dir, "logs", "toxiproxy.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s.toxLog = toxLog
	if s.toxi, err = startToxi(toxLog); err != nil {
		return err
	}
	if err := s.startControl(); err != nil {
		return err
	}
	var ports portSet
	s.p, err = buildPlan(s.topo, dir, s.opts.Binary, adminTok, edgeTok, &ports, s.toxi.add)
	ports.release()
	if err != nil {
		return err
	}
	for _, c := range s.p.comps {
		s.newChild(c)
	}
	s.mu.Lock()
	s.st = State{Name: s.topo.Name, Dir: dir, StartedAt: s.began.UTC(), AdminToken: adminTok, EdgeControlToken: edgeTok,
		Tenant: s.topo.Tenant, Toxiproxy: s.toxi.addr(), SupervisorP: os.Getpid(), Status: StatusStarting,
		Binary: s.opts.Binary, Topology: s.opts.Topology, Control: s.control.Addr().String(), ControlToken: ctlTok}
	s.mu.Unlock()
	if err := s.writeState(); err != nil {
		return err
	}
	s.logf("%d processes and %d proxies planned in %s; Toxiproxy API on %s", len(s.p.comps), len(s.p.proxies), dir, s.toxi.addr())

	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"postgres", s.startPostgres},
		{"nats", func(ctx context.Context) error { return s.startTier(ctx, tierNATS) }},
		{"migrate", s.migrate},
		{"workers", func(ctx context.Context) error { return s.startTier(ctx, tierWorker) }},
		{"login processes", func(ctx context.Context) error { return s.startTier(ctx, tierLogin) }},
		{"admin", func(ctx context.Context) error { return s.startTier(ctx, tierAdmin) }},
		{"edges", func(ctx context.Context) error { return s.startTier(ctx, tierEdge) }},
		{"tenant, client and users", s.seed},
		{"ready checks", s.checkReady},
	}
	for _, step := range steps {
		t0 := time.Now()
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
		if err := s.writeState(); err != nil {
			return err
		}
		s.logf("%s up (%v)", step.what, time.Since(t0).Round(time.Millisecond))
		if err := context.Cause(ctx); err != nil {
			return fmt.Errorf("lab: start interrupted: %w", err)
		}
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	s.setStatus(StatusReady)
	s.logf("ready in %v", time.Since(s.began).Round(time.Millisecond))
	return nil
}

// token is a random bearer token (43 characters).
func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newChild prepares c's child process (refresh sets what depends on its port).
func (s *supervisor) newChild(c *component) {
	spec := childSpec{name: c.Name, log: c.Log, stopSig: syscall.SIGTERM}
	if c.Kind == KindPostgres {
		spec.path = filepath.Join(PGBinDir, "postgres")
		spec.env = []string{"LC_ALL=C", "TZ=UTC", "PATH=/usr/bin:/bin", labEnv + "=" + s.opts.Dir}
		spec.cred = s.pg.cred
		spec.stopSig = syscall.SIGINT // fast shutdown, what `pg_ctl stop -m fast` sends
		spec.ready = pgReady(&c.port)
	} else {
		spec.path = s.opts.Binary
		spec.args = c.args
		spec.ready = func(ctx context.Context) error { return httpReady(ctx, c.ready) }
	}
	c.child = &child{spec: spec}
	s.refresh(c)
}

// refresh recomputes what depends on c's port before a start.
func (s *supervisor) refresh(c *component) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Addr = c.addr()
	switch c.Kind {
	case KindPostgres:
		c.pg.port = c.port
		c.child.spec.args = c.pg.args()
	case KindEdge:
		c.ready = c.edgeCtlURL + "/readyz"
		c.child.spec.env = c.env()
	default:
		c.ready = "http://" + c.addr() + "/readyz"
		c.child.spec.env = c.env()
	}
	c.Ready = c.ready
}

// startComp starts c and waits until it is ready. A process that lost its port to
// another program between the plan and its start moves to a new port, and the
// proxies leading to it follow (only proxies name such a port).
func (s *supervisor) startComp(ctx context.Context, c *component, timeout time.Duration) error {
	for attempt := 1; ; attempt++ {
		s.refresh(c)
		if err := c.child.start(); err != nil {
			return err
		}
		if err := s.writeState(); err != nil {
			return err
		}
		err := c.child.waitReady(ctx, timeout)
		if err == nil {
			return nil
		}
		tail := tailFile(c.Log, logTailLines)
		lost := strings.Contains(tail, "address already in use") || strings.Contains(tail, "could not bind")
		if attempt == 3 || !c.movable || !lost {
			_ = c.child.kill()
			return err
		}
		if kerr := c.child.kill(); kerr != nil {
			return errors.Join(err, kerr)
		}
		if merr := s.move(c); merr != nil {
			return errors.Join(err, merr)
		}
		s.logf("%s lost its port before it bound it; moved to %s", c.Name, c.addr())
	}
}

// move gives c a new free port and points the proxies leading to it there.
func (s *supervisor) move(c *component) error {
	var ports portSet
	port, err := ports.take()
	ports.release()
	if err != nil {
		return err
	}
	old := c.addr()
	c.port = port
	s.mu.Lock()
	defer s.mu.Unlock()
	names := s.p.proxiesTo[old]
	delete(s.p.proxiesTo, old)
	s.p.proxiesTo[c.addr()] = names
	for _, n := range names {
		if err := s.toxi.setUpstream(n, c.addr()); err != nil {
			return err
		}
		for i := range s.p.proxies {
			if s.p.proxies[i].Name == n {
				s.p.proxies[i].Upstream = c.addr()
			}
		}
	}
	return nil
}

// startTier starts every component of a tier at once and waits until all are ready.
func (s *supervisor) startTier(ctx context.Context, tier int) error {
	var comps []*component
	for _, c := range s.p.comps {
		if c.tier == tier {
			comps = append(comps, c)
		}
	}
	errs := make([]error, len(comps))
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Go(func() { errs[i] = s.startComp(ctx, c, ninesReadyTimeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startPostgres initialises the primary and its replicas' copies, starts the primary,
// then the replicas (streaming through their proxies), and creates the database.
func (s *supervisor) startPostgres(ctx context.Context) error {
	var reps []*pgNode
	var repComps []*component
	for _, r := range s.topo.Regions {
		for _, c := range s.p.replicas[r.Name] {
			reps = append(reps, c.pg)
			repComps = append(repComps, c)
		}
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := initCluster(ictx, s.pg, s.p.primary.pg, reps); err != nil {
		return err
	}
	if err := s.startComp(ctx, s.p.primary, pgReadyTimeout); err != nil {
		return err
	}
	errs := make([]error, len(repComps))
	var wg sync.WaitGroup
	for i, c := range repComps {
		wg.Go(func() { errs[i] = s.startComp(ctx, c, pgReadyTimeout) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	primaryURL := s.p.primary.pg.url("postgres")
	if err := waitStreaming(ctx, primaryURL, len(repComps)); err != nil {
		return fmt.Errorf("lab: the replicas are not streaming: %w", err)
	}
	if err := pgExec(ctx, primaryURL, "CREATE DATABASE "+pgDatabase); err != nil {
		return fmt.Errorf("lab: create database: %w", err)
	}
	return nil
}

// migrate runs `nines migrate` against the primary (through the admin tier's proxy).
func (s *supervisor) migrate(ctx context.Context) error {
	db, err := s.p.migrateDB()
	if err != nil {
		return err
	}
	c := &child{spec: childSpec{name: "migrate", path: s.opts.Binary, args: []string{"migrate"}, log: s.p.logPath("migrate"),
		stopSig: syscall.SIGTERM, env: []string{"PATH=/usr/bin:/bin", "TZ=UTC", labEnv + "=" + s.opts.Dir,
			"NINES_DATABASE_URL=" + db, "NINES_DATA_DIR=" + s.p.dataPath("migrate")}}}
	if err := c.start(); err != nil {
		return err
	}
	select {
	case <-c.done():
	case <-ctx.Done():
		return errors.Join(context.Cause(ctx), c.kill())
	case <-time.After(migrateTimeout):
		return errors.Join(fmt.Errorf("lab: nines migrate still running after %v", migrateTimeout), c.kill())
	}
	if err := c.exitErr(); err != nil {
		return fmt.Errorf("lab: nines migrate: %v; end of %s:\n%s", err, c.spec.log, tailFile(c.spec.log, logTailLines))
	}
	return nil
}

// supervise reports processes that exit without being asked to, until ctx ends. It
// does not restart them: a chaos scenario kills processes on purpose, and restarts
// them through the control API.
func (s *supervisor) supervise(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		changed := false
		s.mu.Lock()
		for _, c := range s.p.comps {
			runs := c.child.runCount()
			if c.child.pid() == 0 && runs > c.loggedRuns {
				c.loggedRuns = runs
				changed = true
				if !c.expectedStop {
					s.logf("%s (%s) exited: %v; see %s", c.Name, c.Kind, c.child.exitErr(), c.Log)
				}
			}
		}
		s.mu.Unlock()
		if changed {
			if err := s.writeState(); err != nil {
				s.logf("write state: %v", err)
			}
		}
	}
}

// stopAll stops everything, tier by tier in the reverse order of the start (edges
// first, the PostgreSQL primary last), then Toxiproxy and the control API.
func (s *supervisor) stopAll() error {
	if s.p == nil {
		return s.closeServers()
	}
	s.setStatus(StatusStopping)
	var errs []error
	var mu sync.Mutex
	stopGroup := func(comps []*component) {
		var wg sync.WaitGroup
		for _, c := range comps {
			wg.Go(func() {
				if err := c.child.stop(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				if c.Kind == KindPostgres {
					removeShm(readPidFile(c.pg.dataDir))
				}
			})
		}
		wg.Wait()
	}
	for tier := tiers - 1; tier >= 0; tier-- {
		var group []*component
		for _, c := range s.p.comps {
			if c.tier == tier && c != s.p.primary {
				group = append(group, c)
			}
		}
		stopGroup(group)
		if tier == tierPostgres {
			stopGroup([]*component{s.p.primary})
		}
	}
	if err := s.writeState(); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, s.closeServers())...)
}

func (s *supervisor) closeServers() error {
	var errs []error
	if s.ctlSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.ctlSrv.Shutdown(ctx))
		cancel()
	}
	if s.toxi != nil {
		errs = append(errs, s.toxi.close())
	}
	if s.toxLog != nil {
		s.toxLog.Close()
	}
	return errors.Join(errs...)
}
