package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
)

// row is what *sql.Row and *sql.Rows share.
type row interface {
	Scan(dest ...any) error
}

// timeDest scans a time column through the Dialect; NULL becomes the zero time.
type timeDest struct {
	d Dialect
	t *time.Time
}

func (x *timeDest) Scan(src any) error {
	if src == nil {
		*x.t = time.Time{}
		return nil
	}
	t, err := x.d.ScanTime(src)
	if err != nil {
		return err
	}
	*x.t = t.UTC()
	return nil
}

func (s *Store) scanTime(t *time.Time) *timeDest { return &timeDest{d: s.d, t: t} }

// timeArg is t for a query argument; the zero time is NULL.
func (s *Store) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.Time(t)
}

// jsonList scans a JSON array of strings (jsonb in PostgreSQL, TEXT in SQLite). NULL
// and an empty array both become an empty, non-nil slice.
type jsonList struct{ p *[]string }

func (x jsonList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("json list: unsupported type %T", src)
	}
	var out []string
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			return fmt.Errorf("json list: %w", err)
		}
	}
	if out == nil {
		out = []string{}
	}
	*x.p = out
	return nil
}

// jsonArg is l as a JSON array text; nil becomes "[]". Both pgx (for jsonb) and SQLite
// take the text as is.
func jsonArg(l []string) (string, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// bytesArg stores an empty byte slice as NULL so that it reads back as nil in both
// dialects.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// collect reads every row of a list query with scan, and cuts it into a page of at most
// limit items (the query asked for limit+1 to learn whether there is more).
func collect[T any](rows rowSet, limit int, scan func(row) (T, error), id func(T) uuid.UUID) (store.Page[T], error) {
	items, err := all(rows, scan)
	if err != nil {
		return store.Page[T]{}, err
	}
	p := store.Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.Next = id(items[limit-1])
	}
	return p, nil
}

// rowSet is what collect and all need of *sql.Rows.
type rowSet interface {
	row
	Next() bool
	Err() error
	Close() error
}

// all reads every row with scan into a non-nil slice.
func all[T any](rows rowSet, scan func(row) (T, error)) ([]T, error) {
	defer func() { _ = rows.Close() }()
	items := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, rows.Err()
}

// prefixed qualifies every column of a column list with prefix ("u.").
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
