package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/worker"
)

// DeadLetters is the worker's dead-letter queue (*worker.DLQ): commands the worker could
// not apply, listed oldest first and replayed one at a time.
type DeadLetters interface {
	List(ctx context.Context, after uint64, limit int) ([]worker.DeadLetter, uint64, error)
	Replay(ctx context.Context, id uint64) error
}

var errNoDLQ = &problem{Type: typeUnavailable, Title: "Unavailable", Status: http.StatusServiceUnavailable,
	Detail: "this process has no access to the dead-letter queue (it runs without a broker or worker)"}

// listDeadLetters lists dead letters; the cursor is opaque (the last ID of the page).
func (a *API) listDeadLetters(c *call) error {
	if a.deadLetters == nil {
		return errNoDLQ
	}
	q := c.r.URL.Query()
	limit := store.DefaultLimit
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s[0])
		if len(s) != 1 || err != nil || n < 1 || n > store.MaxLimit {
			return malformed("limit must be one integer from 1 to " + strconv.Itoa(store.MaxLimit))
		}
		limit = n
	}
	var after uint64
	if s, ok := q["cursor"]; ok {
		b, err := base64.RawURLEncoding.DecodeString(s[0])
		n, perr := strconv.ParseUint(string(b), 10, 64)
		if len(s) != 1 || err != nil || perr != nil || n == 0 {
			return errBadCursor
		}
		after = n
	}
	items, next, err := a.deadLetters.List(c.r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := list[worker.DeadLetter]{Items: items}
	if out.Items == nil {
		out.Items = []worker.DeadLetter{}
	}
	if next != 0 {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(next, 10)))
	}
	return writeJSON(c.w, http.StatusOK, out)
}

// replayDeadLetter republishes one dead letter to the commands stream.
func (a *API) replayDeadLetter(c *call) error {
	if a.deadLetters == nil {
		return errNoDLQ
	}
	id, err := strconv.ParseUint(c.r.PathValue("seq"), 10, 64)
	if err != nil || id == 0 {
		return notFound("dead letter")
	}
	if err := a.deadLetters.Replay(c.r.Context(), id); err != nil {
		if errors.Is(err, worker.ErrNoDeadLetter) {
			return notFound("dead letter")
		}
		return err
	}
	a.audit(c, strconv.FormatUint(id, 10))
	return noContent(c.w)
}

var _ DeadLetters = (*worker.DLQ)(nil)
