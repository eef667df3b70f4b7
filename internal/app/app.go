package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ninesid/nines/internal/config"
)

// Options is what Run needs. Config must have passed Validate.
type Options struct {
	Config config.Config
	Role   Role
	// Log receives the JSON log; nil means os.Stdout.
	Log io.Writer
	// Console receives messages for the operator at the terminal (a generated bootstrap
	// token); nil means os.Stderr.
	Console io.Writer
	// Ready, if set, is called once the server listens and reports ready, with the
	// bound address (host:port) and the public base URL.
	Ready func(addr, publicURL string)
	// NotReady, if set, is called on shutdown once /readyz answers 503 and before the
	// shutdown delay starts; tests observe the draining state through it.
	NotReady func()
}

// ErrUsage marks errors that come from how nines was invoked (a role that does not
// exist or is not implemented) rather than from running it; main exits 2 for them.
// Test with errors.Is.
var ErrUsage = errors.New("usage error")

type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() }
func (e usageError) Unwrap() error        { return e.err }
func (e usageError) Is(target error) bool { return target == ErrUsage }

// Run runs the role o.Role until ctx is cancelled, then shuts down gracefully. It sets
// the default slog logger (libraries log through it).
func Run(ctx context.Context, o Options) error {
	run, err := runnerFor(o.Role)
	if err != nil {
		return usageError{err}
	}
	o = o.withDefaults()
	slog.SetDefault(NewLogger(o.Log, o.Config.LogLevel))
	return run(ctx, o)
}

// Migrate applies every pending schema migration to the configured database and
// returns. It is `nines migrate`. It needs only the primary: replicas are not opened, so
// a replica that is down cannot fail a deploy.
func Migrate(ctx context.Context, cfg config.Config, log io.Writer) error {
	cfg.ReplicaURLs = nil
	logger := NewLogger(log, cfg.LogLevel)
	slog.SetDefault(logger)
	b, err := openBackend(ctx, cfg, backendSpec{primaryFallback: true, logger: logger})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	logger.Info("migrations applied", "database", databaseName(cfg))
	return nil
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = os.Stdout
	}
	if o.Console == nil {
		o.Console = os.Stderr
	}
	return o
}

// NewLogger returns a JSON logger at level (debug, info, warn or error; anything else
// is info).
func NewLogger(w io.Writer, level string) *slog.Logger {
	if w == nil {
		w = os.Stdout
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: readableDurations}))
}

// readableDurations writes durations as "1.5s" rather than nanosecond integers, so an
// operator reading the log doesn't have to count digits.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func databaseName(cfg config.Config) string {
	if cfg.Embedded() {
		return "sqlite:" + cfg.SQLitePath()
	}
	return config.RedactURL(cfg.DatabaseURL)
}
