package admin

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"

	"github.com/ninesid/nines/internal/store"
)

// listOptions reads ?limit= (1..store.MaxLimit, default store.DefaultLimit) and ?cursor=
// (opaque to clients: the unpadded base64url of the last ID of the previous page).
func listOptions(q url.Values) (store.ListOptions, error) {
	opts := store.ListOptions{Limit: store.DefaultLimit}
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s[0])
		if len(s) != 1 || err != nil || n < 1 || n > store.MaxLimit {
			return opts, malformed("limit must be one integer from 1 to " + strconv.Itoa(store.MaxLimit))
		}
		opts.Limit = n
	}
	if s, ok := q["cursor"]; ok {
		id, err := decodeCursor(s[0])
		if len(s) != 1 || err != nil {
			return opts, malformed("cursor is not one that this API returned")
		}
		opts.After = id
	}
	return opts, nil
}

func encodeCursor(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func decodeCursor(s string) (uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return uuid.Nil, err
	}
	id, err := uuid.FromBytes(b)
	if err == nil && id == uuid.Nil {
		err = errBadCursor
	}
	return id, err
}

var errBadCursor = malformed("cursor is not one that this API returned")

// filter reads an optional exact-match query parameter; it may appear at most once.
func filter(q url.Values, name string) (value string, ok bool, err error) {
	s, ok := q[name]
	if !ok {
		return "", false, nil
	}
	if len(s) != 1 {
		return "", false, malformed(name + " may be given at most once")
	}
	if !field.Line(s[0]) || len(s[0]) > 1024 {
		return "", false, malformed(name + " must be valid UTF-8 of at most 1024 bytes, without control characters")
	}
	return s[0], true, nil
}

// pathID parses the UUID in path wildcard name. A malformed ID names no resource: 404.
func pathID(r *http.Request, name, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil || len(r.PathValue(name)) != 36 || id == uuid.Nil {
		return uuid.Nil, notFound(what)
	}
	return id, nil
}

// list is the JSON shape of every list response.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// toList converts a store page with conv; Items is never null.
func toList[S, T any](p store.Page[S], conv func(S) T) list[T] {
	out := list[T]{Items: make([]T, 0, len(p.Items)), NextCursor: encodeCursor(p.Next)}
	for _, s := range p.Items {
		out.Items = append(out.Items, conv(s))
	}
	return out
}
