package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// errApplied ends the transaction of a command whose key is already recorded.
var errApplied = errors.New("sqlstore: command already applied")

// ApplyCommand applies the command id (its idempotency key) of type typ for tenantID
// exactly once: in one transaction on the primary it records id in applied_commands,
// runs fn and commits. When id is already recorded it runs nothing and returns false,
// nil, so a redelivered command changes nothing. When fn fails, nothing is recorded and
// its error is returned; fn may run more than once when the transaction is retried
// (see InTx), so it must have no effect outside tx. Concurrent calls with one id apply
// it once: the others wait for the first transaction and then find the record.
//
// fn does its work with the ...Tx methods (RecordSignInTx, SetPasswordHashTx,
// InsertEventTx), each scoped to a tenant like every other method.
func (s *Store) ApplyCommand(ctx context.Context, id, typ string, tenantID uuid.UUID, fn func(tx *sql.Tx) error) (bool, error) {
	if id == "" {
		return false, errors.New("sqlstore: apply command: empty id")
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO applied_commands (id, type, tenant_id, applied_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`, id, typ, tenantID, s.d.Time(s.stamp()))
		if err != nil {
			return s.writeErr("record command", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlstore: record command: %w", err)
		}
		if n == 0 {
			return errApplied
		}
		return fn(tx)
	})
	switch {
	case errors.Is(err, errApplied):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// CommandApplied reports whether the command id is recorded as applied.
func (s *Store) CommandApplied(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM applied_commands WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, s.readErr("command applied", err)
	}
	return true, nil
}

// PruneAppliedCommands deletes at most limit records of commands applied before before,
// oldest first, and returns how many it deleted; call it again while it returns limit.
// A record must be kept longer than the broker may redeliver its command (the stream's
// duplicate window plus the consumer's MaxDeliver × AckWait); a day is plenty.
func (s *Store) PruneAppliedCommands(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.prune(ctx, "prune applied commands", `DELETE FROM applied_commands WHERE id IN
		(SELECT id FROM applied_commands WHERE applied_at < $1 ORDER BY applied_at LIMIT $2)`, before, limit)
}

// DefaultPruneLimit is the batch of a prune call whose limit is not positive.
const DefaultPruneLimit = 1000

func (s *Store) prune(ctx context.Context, op, query string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = DefaultPruneLimit
	}
	res, err := s.exec(ctx, op, query, s.d.Time(before.UTC().Truncate(time.Microsecond)), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return int(n), nil
}
