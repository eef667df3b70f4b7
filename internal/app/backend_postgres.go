package app

import (
	"context"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store/postgres"
)

var _ backend = (*postgres.Backend)(nil)

// openPostgres opens the PostgreSQL primary and its replicas.
func openPostgres(ctx context.Context, cfg config.Config, spec backendSpec) (backend, error) {
	b, err := postgres.Open(ctx, postgres.Options{
		PrimaryURL:      cfg.DatabaseURL,
		ReplicaURLs:     cfg.ReplicaURLs,
		PrimaryFallback: spec.primaryFallback,
		Logger:          spec.logger,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
