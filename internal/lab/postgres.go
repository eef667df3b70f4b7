package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ninesid/nines/internal/pgproc"
)

// PGBinDir is where Debian's postgresql-15 package installs the server binaries.
const PGBinDir = pgproc.BinDir

// pgSettings are every server's settings. The lab trades durability for speed like the
// test clusters (fsync and full-page writes off: a lab must never hold data anyone
// wants to keep), but keeps synchronous_commit on and autovacuum running, since it runs
// for hours under load. WAL is kept (wal_keep_size) so that a replica cut off by a
// fault for a few minutes catches up by streaming.
var pgSettings = []string{
	"listen_addresses=127.0.0.1",
	"unix_socket_directories=",
	"fsync=off",
	"full_page_writes=off",
	"shared_buffers=32MB",
	"max_connections=300",
	"wal_level=replica",
	"max_wal_senders=10",
	"wal_keep_size=256MB",
	"max_wal_size=256MB",
	"min_wal_size=32MB",
	"wal_retrieve_retry_interval=500ms",
	"hot_standby=on",
	"hot_standby_feedback=on",
	"jit=off",
	"huge_pages=off",
	"dynamic_shared_memory_type=mmap",
	"timezone=UTC",
	"log_timezone=UTC",
	"log_line_prefix=%m [%p] %q%a@%d ",
}

// pgDatabase is the database the lab's nines processes use.
const pgDatabase = "nines"

// pgRunner runs the server programs (internal/pgproc), as the postgres system user when
// the lab runs as root (initdb and postgres refuse root).
type pgRunner struct {
	pgproc.Runner
	cred *syscall.Credential // nil: the current user
}

// newPGRunner checks the server binaries and picks the user to run them as.
func newPGRunner() (pgRunner, error) {
	if err := pgproc.CheckBinaries(PGBinDir); err != nil {
		return pgRunner{}, fmt.Errorf("lab: %w", err)
	}
	r, err := pgproc.NewRunner()
	if err != nil {
		return pgRunner{}, fmt.Errorf("lab: %w", err)
	}
	return pgRunner{Runner: r, cred: r.Credential()}, nil
}

// mkdir creates dir (mode 0700) owned by the server user.
func (r pgRunner) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := r.Own(dir); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// checkReachable reports when the server user cannot reach dir (a parent without the
// search bit for it): the postgres user must open its data directories under it.
func (r pgRunner) checkReachable(dir string) error {
	if r.cred == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		m := fi.Mode().Perm()
		switch {
		case !ok:
		case st.Uid == r.cred.Uid && m&0o100 != 0:
		case st.Gid == r.cred.Gid && m&0o010 != 0:
		case m&0o001 != 0:
		default:
			return fmt.Errorf("lab: the postgres user cannot reach %s (it runs PostgreSQL, since initdb refuses root): "+
				"%s is mode %v; pick a --dir whose parents are searchable by everyone (the default is under %s)",
				dir, d, m, os.TempDir())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// pgNode is one PostgreSQL server of the lab.
type pgNode struct {
	name    string
	region  string
	zone    string
	primary bool
	dataDir string
	port    int
	// upstream is, for a replica, the address (a proxy) it streams from.
	upstream string
}

func (n *pgNode) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", n.port, db)
}

func (n *pgNode) args() []string {
	a := []string{"-D", n.dataDir, "-p", strconv.Itoa(n.port)}
	for _, s := range pgSettings {
		a = append(a, "-c", s)
	}
	if !n.primary {
		a = append(a, "-c", "primary_conninfo=host=127.0.0.1 port="+portOf(n.upstream)+
			" user=postgres application_name="+n.name)
	}
	return a
}

// initCluster runs initdb for the primary and copies its stopped data directory for
// each replica (a cold base backup, as internal/store/pgtest does: faster than
// pg_basebackup, which needs a checkpoint on a running server) with standby.signal.
func initCluster(ctx context.Context, r pgRunner, primary *pgNode, replicas []*pgNode) error {
	err := r.Run(ctx, filepath.Join(PGBinDir, "initdb"), "-D", primary.dataDir, "-U", "postgres",
		"-A", "trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C", "--wal-segsize=4")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, rep := range replicas {
		if err := r.Run(ctx, "/bin/cp", "-a", primary.dataDir, rep.dataDir); err != nil {
			return fmt.Errorf("lab: copy base backup: %w", err)
		}
		if err := r.Run(ctx, "/usr/bin/touch", filepath.Join(rep.dataDir, "standby.signal")); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// pgReady answers nil once the server at port accepts a query (a hot standby: once it
// is consistent).
func pgReady(port *int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", *port))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "SELECT 1")
		return err
	}
}

// pgExec runs one statement on the server at u.
func pgExec(ctx context.Context, u, sql string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// waitStreaming waits until the primary reports n replicas streaming.
func waitStreaming(ctx context.Context, primaryURL string, n int) error {
	return pollUntil(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		conn, err := pgx.Connect(ctx, primaryURL)
		if err != nil {
			return false, nil
		}
		defer conn.Close(context.Background())
		var got int
		err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'`).Scan(&got)
		return err == nil && got >= n, nil
	})
}

// waitReplicated waits until every replica has replayed what the primary had written
// when it was called.
func waitReplicated(ctx context.Context, primaryURL string, replicaURLs []string) error {
	var lsn string
	conn, err := pgx.Connect(ctx, primaryURL)
	if err != nil {
		return fmt.Errorf("lab: primary: %w", err)
	}
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn)
	conn.Close(context.Background())
	if err != nil {
		return fmt.Errorf("lab: primary WAL position: %w", err)
	}
	for _, u := range replicaURLs {
		err := pollUntil(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
			c, err := pgx.Connect(ctx, u)
			if err != nil {
				return false, nil
			}
			defer c.Close(context.Background())
			var ok bool
			err = c.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).Scan(&ok)
			return err == nil && ok, nil
		})
		if err != nil {
			return fmt.Errorf("lab: a replica has not replayed %s: %w", lsn, err)
		}
	}
	return nil
}

// pollUntil calls done every 100 ms until it reports true or an error, for at most
// timeout.
func pollUntil(ctx context.Context, timeout time.Duration, done func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := done(actx)
		acancel()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readPidFile and removeShm are pgproc's (postmaster.pid, and the shared memory a
// killed postmaster leaves behind).
var (
	readPidFile = pgproc.ReadPidFile
	removeShm   = pgproc.RemoveShm
)

// portOf is the port of a host:port address ("" if it has none).
func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}
