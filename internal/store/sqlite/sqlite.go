package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// Options configures Open.
type Options struct {
	// Now is the clock for stored times; nil means time.Now.
	Now func() time.Time
}

// readConns is the size of the read-only pool: WAL readers do not block each other or
// the writer, and a few connections are enough for the embedded default.
const readConns = 4

// Backend is an open SQLite database.
type Backend struct {
	write *sql.DB
	read  *sql.DB
	st    *sqlstore.Store
	now   func() time.Time

	mu     sync.Mutex
	health store.DBHealth
}

// Open opens (creating if needed) the database file at path. The directory must exist:
// the caller owns the data directory. Open does not migrate; call Migrate.
func Open(ctx context.Context, path string, opts Options) (*Backend, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	path = filepath.Clean(path)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// BEGIN IMMEDIATE takes the write lock at the start of a transaction, so a transaction
	// that reads and then writes cannot fail half-way with SQLITE_BUSY because another
	// process (a second nines, the sqlite3 shell) wrote in between.
	write, err := openPool(ctx, dsn(path, "_txlock=immediate",
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)"), 1)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// The write pool has set WAL mode (persistent in the file) before any reader opens.
	read, err := openPool(ctx, dsn(path, "_pragma=query_only(1)"), readConns)
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	b := &Backend{write: write, read: read, now: now}
	b.health = store.DBHealth{Name: path, Role: "primary", Healthy: true, Since: now().UTC()}
	b.st = sqlstore.New(sqlstore.Config{
		Dialect:  Dialect{},
		Primary:  write,
		Replicas: readRouter{db: read},
		Now:      now,
	})
	return b, nil
}

// dsn builds a modernc DSN for path with the settings every connection gets and extra.
// The path is a file: URI so that SQLite, not the driver, decodes it; '%', '?' and '#'
// are escaped so that they stay part of the name.
func dsn(path string, extra ...string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	params := append([]string{"_pragma=busy_timeout(5000)", "_pragma=foreign_keys(1)"}, extra...)
	return "file:" + esc + "?" + strings.Join(params, "&")
}

func openPool(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Store returns the entity store.
func (b *Backend) Store() *sqlstore.Store { return b.st }

// Close closes both pools.
func (b *Backend) Close() error {
	return errors.Join(b.read.Close(), b.write.Close())
}

// Health pings the write and the read pool and reports the file as one database.
func (b *Backend) Health(ctx context.Context) []store.DBHealth {
	err := errors.Join(b.write.PingContext(ctx), b.read.PingContext(ctx))
	b.mu.Lock()
	defer b.mu.Unlock()
	healthy := err == nil
	if healthy != b.health.Healthy {
		b.health.Healthy, b.health.Since = healthy, b.now().UTC()
	}
	b.health.Error = ""
	if err != nil {
		b.health.Error = err.Error()
	}
	return []store.DBHealth{b.health}
}

// readRouter sends every Reader call to the read-only pool. There is one database, so
// there is nothing to fail over to.
type readRouter struct{ db *sql.DB }

func (r readRouter) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	return fn(ctx, r.db)
}

var _ sqlstore.ReadRouter = readRouter{}
