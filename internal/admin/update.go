package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ninesid/nines/internal/store"
)

// maxUpdateAttempts bounds read-modify-write retries on a version conflict when the
// client sent no If-Match.
const maxUpdateAttempts = 3

// ifMatch reads an If-Match header (RFC 9110 §13.1.1) naming one version: `"7"`.
// any is true when the header is absent or "*". A value that names no version can
// never match, which is a failed precondition.
func ifMatch(r *http.Request) (version int64, any bool, err error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, true, nil
	}
	unq, ok := strings.CutPrefix(h, `"`)
	unq, ok2 := strings.CutSuffix(unq, `"`)
	v, perr := strconv.ParseInt(unq, 10, 64)
	if !ok || !ok2 || perr != nil {
		return 0, false, errPrecondition
	}
	return v, false, nil
}

// update is the read-modify-write of every PATCH and password change: load the current
// entity, check If-Match, apply the change (which validates), save with the loaded
// version. With If-Match a concurrent change is 412; without, the cycle is retried a
// bounded number of times and then reported as 409.
func update[T any](r *http.Request, load func() (T, error), version func(T) int64,
	apply func(*T) error, save func(T) (T, error)) (T, error) {
	var zero T
	want, anyVersion, err := ifMatch(r)
	if err != nil {
		return zero, err
	}
	for range maxUpdateAttempts {
		cur, err := load()
		if err != nil {
			return zero, err
		}
		if !anyVersion && version(cur) != want {
			return zero, errPrecondition
		}
		if err := apply(&cur); err != nil {
			return zero, err
		}
		saved, err := save(cur)
		switch {
		case errors.Is(err, store.ErrConflict) && !anyVersion:
			return zero, errPrecondition
		case errors.Is(err, store.ErrConflict):
			continue
		}
		return saved, err
	}
	return zero, conflict("the entity kept changing concurrently; re-read and retry", nil)
}
