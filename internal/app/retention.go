package app

import (
	"context"
	"log/slog"
	"time"
)

// Retention of what the worker writes (review of issue 4: the prune methods existed and
// nothing ran them).
const (
	// appliedCommandsKept is how long a command's dedupe record is kept: far longer
	// than the broker can redeliver it (the stream's 10-minute duplicate window, the
	// consumer's MaxDeliver × AckWait) or a login process's spool can hold it back
	// (a flush after a long broker outage is deduplicated by this record alone).
	appliedCommandsKept = 7 * 24 * time.Hour
	pruneEvery          = 10 * time.Minute
	pruneFirstAfter     = time.Minute
	pruneBatch          = 5000
	pruneMaxBatches     = 20 // per table and round: a big backlog drains over several rounds
)

// pruner is what the retention loop deletes with (*sqlstore.Store).
type pruner interface {
	PruneAppliedCommands(ctx context.Context, before time.Time, limit int) (int, error)
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
}

// pruneOnce deletes dedupe records older than appliedCommandsKept and, when
// eventRetention is positive, events older than it, in bounded batches. It returns how
// many of each it deleted.
func pruneOnce(ctx context.Context, p pruner, now time.Time, eventRetention time.Duration) (commands, events int, err error) {
	drain := func(prune func(context.Context, time.Time, int) (int, error), before time.Time) (int, error) {
		total := 0
		for range pruneMaxBatches {
			n, err := prune(ctx, before, pruneBatch)
			total += n
			if err != nil || n < pruneBatch {
				return total, err
			}
		}
		return total, nil
	}
	if commands, err = drain(p.PruneAppliedCommands, now.Add(-appliedCommandsKept)); err != nil {
		return commands, 0, err
	}
	if eventRetention > 0 {
		events, err = drain(p.PruneEvents, now.Add(-eventRetention))
	}
	return commands, events, err
}

// runRetention prunes every pruneEvery until ctx ends. Several workers may run it at
// once: the deletes are bounded and idempotent.
func runRetention(ctx context.Context, p pruner, eventRetention time.Duration, logger *slog.Logger) {
	wait := pruneFirstAfter
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = pruneEvery
		commands, events, err := pruneOnce(ctx, p, time.Now(), eventRetention)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("retention: prune failed; trying again later", "error", err,
				"applied_commands_deleted", commands, "events_deleted", events)
		case commands > 0 || events > 0:
			logger.Info("retention: pruned", "applied_commands_deleted", commands, "events_deleted", events)
		}
	}
}
