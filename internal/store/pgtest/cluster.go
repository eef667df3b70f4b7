package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ninesid/nines/internal/pgproc"
)

// Options configures a cluster.
type Options struct {
	// Replicas is the number of streaming replicas (hot standbys) next to the primary.
	Replicas int
	// Template prepares the template database that NewDatabase clones, typically by
	// running the migrations against url. It runs once per cluster, on the first
	// NewDatabase. Nil: databases are cloned from an empty template.
	Template func(ctx context.Context, url string) error
	// BaseDir holds the cluster's temporary directory; empty means $TMPDIR, else
	// /dev/shm, else the system temporary directory.
	BaseDir string
}

// Cluster is a running primary with its replicas. Its methods are safe for concurrent use.
type Cluster struct {
	opts     Options
	dir      string
	primary  *node
	replicas []*node

	tmplOnce sync.Once
	tmplErr  error
	dbMu     sync.Mutex // serialises CREATE and DROP DATABASE
	dbSeq    int
}

// Start starts a cluster for one test (or benchmark) and stops it in t.Cleanup. It
// fails t, never skips, when the cluster cannot start.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs())
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// New starts a cluster; the caller must Close it. Use it where there is no testing.TB
// (TestMain); Start and Shared are the usual entry points.
func New(opts Options) (*Cluster, error) {
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("pgtest: Replicas = %d", opts.Replicas)
	}
	if err := pgproc.CheckBinaries(BinDir); err != nil {
		return nil, err
	}
	r, err := pgproc.NewRunner()
	if err != nil {
		return nil, err
	}
	base := opts.BaseDir
	if base == "" {
		base = baseDir()
	}
	sweep(base)
	dir, err := mkdirTemp(r, base)
	if err != nil {
		return nil, err
	}
	if err := markOwner(dir); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	c := &Cluster{opts: opts, dir: dir, primary: newNode(r, dir, "primary")}
	for i := range opts.Replicas {
		c.replicas = append(c.replicas, newNode(r, dir, fmt.Sprintf("replica%d", i+1)))
	}
	if err := c.boot(context.Background(), r); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func newNode(r pgproc.Runner, dir, name string) *node {
	return &node{name: name, r: r, dataDir: filepath.Join(dir, name), logPath: filepath.Join(dir, name+".log")}
}

// boot runs initdb once, copies the stopped primary's data directory for every replica
// (a cold base backup: faster than pg_basebackup, which needs a checkpoint on a running
// server), starts everything and waits until every replica streams.
func (c *Cluster) boot(ctx context.Context, r pgproc.Runner) error {
	err := r.Run(ctx, filepath.Join(BinDir, "initdb"), "-D", c.primary.dataDir, "-U", "postgres",
		"-A", "trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C", "--wal-segsize=1")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	for _, rep := range c.replicas {
		if err := r.Run(ctx, "/bin/cp", "-a", c.primary.dataDir, rep.dataDir); err != nil {
			return fmt.Errorf("pgtest: copy base backup: %w", err)
		}
		if err := r.Run(ctx, "/usr/bin/touch", filepath.Join(rep.dataDir, "standby.signal")); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := c.primary.startOnFreePort(ctx); err != nil {
		return err
	}
	if err := c.startReplicas(ctx); err != nil {
		return err
	}
	return c.waitStreaming(ctx)
}

// startReplicas starts every replica at once, each on its own free port.
func (c *Cluster) startReplicas(ctx context.Context) error {
	errs := make([]error, len(c.replicas))
	var wg sync.WaitGroup
	for i, rep := range c.replicas {
		rep.extra = []string{fmt.Sprintf("primary_conninfo=host=127.0.0.1 port=%d user=postgres application_name=%s",
			c.primary.port, rep.name)}
		wg.Go(func() { errs[i] = rep.startOnFreePort(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops every server (immediate shutdown) and removes the cluster's directory.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.nodes() {
		errs = append(errs, n.stop(syscall.SIGQUIT))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

func (c *Cluster) nodes() []*node { return append([]*node{c.primary}, c.replicas...) }

// PrimaryURL is the URL of the primary's "postgres" database.
func (c *Cluster) PrimaryURL() string { return url(c.primary.port, "postgres") }

// ReplicaURLs are the URLs of the replicas' "postgres" databases, in replica order.
func (c *Cluster) ReplicaURLs() []string { return c.urls("postgres") }

func (c *Cluster) urls(db string) []string {
	us := make([]string, len(c.replicas))
	for i, rep := range c.replicas {
		us[i] = url(rep.port, db)
	}
	return us
}

func url(port int, db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, db)
}

// Logs returns the last lines of every server's log, for a failing test's output.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, n := range c.nodes() {
		fmt.Fprintf(&b, "--- %s log (%s), last lines:\n%s\n", n.name, n.logPath, tail(n.logPath, 40))
	}
	return b.String()
}
