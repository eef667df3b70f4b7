package pgtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// replicationTimeout bounds a wait for replication when the caller's context has no
// deadline of its own.
const replicationTimeout = 30 * time.Second

// waitStreaming waits until the primary reports every replica as streaming.
func (c *Cluster) waitStreaming(ctx context.Context) error {
	if len(c.replicas) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.PrimaryURL())
	if err != nil {
		return fmt.Errorf("pgtest: connect to primary: %w", err)
	}
	defer conn.Close(context.Background())
	return poll(ctx, func() (bool, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'`).Scan(&n)
		return n == len(c.replicas), err
	})
}

// WaitReplicated waits until every running replica has replayed everything committed on
// the primary before the call. Commits run with synchronous_commit=off, so it first
// commits one transaction synchronously: that flushes all the WAL before it, which is
// what replicas receive. Right after a primary restart a replica that has replayed past
// a commit was seen to answer without its row for a few milliseconds: poll for the data
// there rather than read once.
func (c *Cluster) WaitReplicated(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, replicationTimeout)
		defer cancel()
	}
	lsn, err := c.flushedLSN(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, rep := range c.replicas {
		if rep.running() {
			errs = append(errs, waitReplayed(ctx, url(rep.port, "postgres"), lsn))
		}
	}
	return errors.Join(errs...)
}

// flushedLSN makes the primary flush its WAL and returns the flushed position.
func (c *Cluster) flushedLSN(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, c.PrimaryURL())
	if err != nil {
		return "", fmt.Errorf("pgtest: connect to primary: %w", err)
	}
	defer conn.Close(context.Background())
	var lsn string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = on`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`)
		return err
	})
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&lsn)
	}
	if err != nil {
		return "", fmt.Errorf("pgtest: primary WAL position: %w", err)
	}
	return lsn, nil
}

// waitReplayed waits until the server at u has replayed the WAL up to lsn.
func waitReplayed(ctx context.Context, u, lsn string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("pgtest: connect to replica: %w", err)
	}
	defer conn.Close(context.Background())
	err = poll(ctx, func() (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).Scan(&ok)
		return ok, err
	})
	if err != nil {
		return fmt.Errorf("pgtest: replica on port %d has not replayed %s: %w", conn.Config().Port, lsn, err)
	}
	return nil
}

// poll calls done every few milliseconds until it reports true or an error, or ctx ends.
func poll(ctx context.Context, done func() (bool, error)) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
