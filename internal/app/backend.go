package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlite"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// backend is what app uses of a storage backend; *sqlite.Backend and
// *postgres.Backend both fit.
type backend interface {
	Store() *sqlstore.Store
	Migrate(ctx context.Context) error
	Health(ctx context.Context) []store.DBHealth
	Close() error
}

var _ backend = (*sqlite.Backend)(nil)

type backendSpec struct {
	primaryFallback bool // replicas may fall back to the primary for reads
	logger          *slog.Logger
}

// openBackend opens the embedded SQLite (creating the data directory 0700) or
// PostgreSQL, as cfg says.
func openBackend(ctx context.Context, cfg config.Config, spec backendSpec) (backend, error) {
	if !cfg.Embedded() {
		return openPostgres(ctx, cfg, spec)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	b, err := sqlite.Open(ctx, cfg.SQLitePath(), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	return b, nil
}
