// Package replicas gives the admin tier's reads in read-only mode a full entity store
// (every admin read, not only the login tier's few) on a PostgreSQL streaming replica.
// The store it hands out must only be read: a replica refuses writes, and the admin
// API refuses them before they reach any store in read-only mode.
package replicas

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/postgres"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// Set is one read-only store per replica, with the backend's view of which are healthy.
type Set struct {
	stores []replica
	health func(context.Context) []store.DBHealth
}

type replica struct {
	name string // host:port, as the backend's Health names it
	pool *pgxpool.Pool
	db   *sql.DB
	st   *sqlstore.Store
}

// Open creates a lazy pool per replica URL (no connection until the first read).
// health is the backend's report (postgres.Backend.Health: it never blocks), used to
// pick a healthy replica; the same URLs must be the backend's replicas.
func Open(urls []string, health func(context.Context) []store.DBHealth) (*Set, error) {
	s := &Set{health: health}
	for i, u := range urls {
		cfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("replicas: replica %d URL: %w", i+1, err), s.Close())
		}
		if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol {
			return nil, errors.Join(fmt.Errorf("replicas: replica %d URL asks for the simple protocol", i+1), s.Close())
		}
		cfg.MaxConns = 4 // admin reads in read-only mode only
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("replicas: replica %d pool: %w", i+1, err), s.Close())
		}
		db := stdlib.OpenDBFromPool(pool)
		s.stores = append(s.stores, replica{
			name: net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))),
			pool: pool,
			db:   db,
			st:   sqlstore.New(sqlstore.Config{Dialect: postgres.Dialect{}, Primary: db}),
		})
	}
	return s, nil
}

// Healthy returns the store of the first replica the backend reports healthy, or nil.
func (s *Set) Healthy() *sqlstore.Store {
	up := map[string]bool{}
	for _, h := range s.health(context.Background()) {
		if h.Role == "replica" && h.Healthy {
			up[h.Name] = true
		}
	}
	for _, r := range s.stores {
		if up[r.name] {
			return r.st
		}
	}
	return nil
}

// Close closes every pool.
func (s *Set) Close() error {
	for _, r := range s.stores {
		_ = r.db.Close()
		r.pool.Close()
	}
	return nil
}
