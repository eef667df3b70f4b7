package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/store"
)

const eventCols = `tenant_id, id, type, user_id, at, data`

func (s *Store) scanEvent(r row) (event.Event, error) {
	var (
		e    event.Event
		uid  uuid.NullUUID
		data []byte
	)
	if err := r.Scan(&e.TenantID, &e.ID, &e.Type, &uid, s.scanTime(&e.At), &data); err != nil {
		return e, err
	}
	e.UserID, e.Data = uid.UUID, json.RawMessage(data)
	return e, nil
}

// InsertEventTx stores e in tenantID inside tx (a worker's ApplyCommand). A zero ID
// becomes a new UUIDv7, a zero At the current time, empty Data "{}"; Data must be a JSON
// object. It returns the stored event. A tenant that does not exist is
// store.ErrNotFound; an ID already used in the tenant is store.AlreadyExists("id").
func (s *Store) InsertEventTx(ctx context.Context, tx *sql.Tx, tenantID uuid.UUID, e event.Event) (event.Event, error) {
	id, err := newID(e.ID)
	if err != nil {
		return event.Event{}, err
	}
	e.ID, e.TenantID = id, tenantID
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if len(e.Data) == 0 {
		e.Data = json.RawMessage(`{}`)
	}
	if !json.Valid(e.Data) || e.Data[0] != '{' {
		return event.Event{}, errors.New("sqlstore: insert event: data is not a JSON object")
	}
	var uid any
	if e.UserID != uuid.Nil {
		uid = e.UserID
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO events (`+eventCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.TenantID, e.ID, e.Type, uid, s.d.Time(e.At), string(e.Data))
	if err != nil {
		return event.Event{}, s.writeErr("insert event", err)
	}
	return e, nil
}

// ListEvents returns one page of tenantID's events that match f, ordered by ID (UUIDv7:
// close to time order, and stable under concurrent inserts of older events only up to
// the clock skew of their writers). Since is inclusive, Until exclusive.
func (s *Store) ListEvents(ctx context.Context, tenantID uuid.UUID, f event.Filter, opts store.ListOptions) (store.Page[event.Event], error) {
	opts = opts.Normalize()
	var b strings.Builder
	args := []any{tenantID, opts.After}
	b.WriteString(`SELECT ` + eventCols + ` FROM events WHERE tenant_id = $1 AND id > $2`)
	add := func(cond string, v any) {
		args = append(args, v)
		b.WriteString(" AND " + cond + " $" + strconv.Itoa(len(args)))
	}
	if f.Type != "" {
		add("type =", f.Type)
	}
	if f.UserID != uuid.Nil {
		add("user_id =", f.UserID)
	}
	if !f.Since.IsZero() {
		add("at >=", s.d.Time(f.Since.UTC().Truncate(time.Microsecond)))
	}
	if !f.Until.IsZero() {
		add("at <", s.d.Time(f.Until.UTC().Truncate(time.Microsecond)))
	}
	args = append(args, opts.Limit+1)
	b.WriteString(" ORDER BY id LIMIT $" + strconv.Itoa(len(args)))
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return store.Page[event.Event]{}, s.readErr("list events", err)
	}
	p, err := collect(rows, opts.Limit, s.scanEvent, func(e event.Event) uuid.UUID { return e.ID })
	return p, s.readErr("list events", err)
}

// PruneEvents deletes at most limit events (of every tenant) that happened before
// before, oldest first, and returns how many it deleted; call it again while it returns
// limit. Bounded batches keep each transaction short on a busy primary; time
// partitioning (dropping a month at once) is the production option at higher volume.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.prune(ctx, "prune events", `DELETE FROM events WHERE (tenant_id, id) IN
		(SELECT tenant_id, id FROM events WHERE at < $1 ORDER BY at LIMIT $2)`, before, limit)
}
