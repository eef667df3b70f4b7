package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ninesid/nines/internal/field"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/store"
)

// Problem types (RFC 9457 §3.1.1). They are stable: clients switch on them.
const (
	typePrefix        = "urn:nines:problem:"
	typeValidation    = typePrefix + "validation"
	typeNotFound      = typePrefix + "not-found"
	typeConflict      = typePrefix + "conflict"
	typePrecondition  = typePrefix + "precondition-failed"
	typeUnauthorized  = typePrefix + "unauthorized"
	typeForbidden     = typePrefix + "forbidden"
	typeMalformed     = typePrefix + "malformed-request"
	typeMediaType     = typePrefix + "unsupported-media-type"
	typeTooLarge      = typePrefix + "payload-too-large"
	typeMethod        = typePrefix + "method-not-allowed"
	typeBusy          = typePrefix + "busy"
	typeUnavailable   = typePrefix + "unavailable"
	typeReadOnly      = typePrefix + "read-only"
	typeInternal      = typePrefix + "internal"
	problemMediaType  = "application/problem+json"
	retryAfterSeconds = 1
)

// problem is an RFC 9457 problem details object. Handlers return it as an error; the
// boundary renders it. Detail is fixed text chosen here, never a wrapped cause.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    field.Errors `json:"errors,omitempty"`

	retryAfter int // seconds; adds Retry-After when above zero
}

func (p *problem) Error() string { return p.Title + ": " + p.Detail }

var errNoRoute = &problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound,
	Detail: "no such resource"}

func malformed(detail string) *problem {
	return &problem{Type: typeMalformed, Title: "Malformed request", Status: http.StatusBadRequest, Detail: detail}
}

func notFound(what string) *problem {
	return &problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such " + what}
}

func forbidden() *problem {
	return &problem{Type: typeForbidden, Title: "Forbidden", Status: http.StatusForbidden,
		Detail: "this token may not perform this operation"}
}

func invalid(es field.Errors) *problem {
	return &problem{Type: typeValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
		Detail: "the request has invalid fields; see errors", Errors: es}
}

func invalidField(name, detail string) *problem {
	return invalid(field.Errors{{Field: name, Detail: detail}})
}

func conflict(detail string, es field.Errors) *problem {
	return &problem{Type: typeConflict, Title: "Conflict", Status: http.StatusConflict, Detail: detail, Errors: es}
}

var errPrecondition = &problem{Type: typePrecondition, Title: "Precondition failed",
	Status: http.StatusPreconditionFailed, Detail: "If-Match does not name the current version; re-read and retry"}

// toProblem maps an error from a handler, a domain package or the store to what the
// client sees. ok is false for unexpected errors, which become a generic 500.
func toProblem(err error) (p *problem, ok bool) {
	var fe field.Errors
	var ae *store.AlreadyExistsError
	switch {
	case errors.As(err, &p):
		return p, true
	case errors.As(err, &fe):
		return invalid(fe), true
	case errors.As(err, &ae):
		return conflict(ae.Field+" is already taken", field.Errors{{Field: ae.Field, Detail: "already exists"}}), true
	case errors.Is(err, store.ErrAlreadyExists):
		return conflict("the entity already exists", nil), true
	case errors.Is(err, store.ErrNotFound):
		return notFound("resource"), true
	case errors.Is(err, store.ErrConflict):
		return conflict("the entity was changed concurrently; re-read and retry", nil), true
	case errors.Is(err, password.ErrBusy):
		return &problem{Type: typeBusy, Title: "Busy", Status: http.StatusServiceUnavailable,
			Detail: "password hashing is saturated; retry shortly", retryAfter: retryAfterSeconds}, true
	case errors.Is(err, store.ErrUnavailable):
		return &problem{Type: typeUnavailable, Title: "Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "storage is unavailable; retry shortly", retryAfter: retryAfterSeconds}, true
	}
	return &problem{Type: typeInternal, Title: "Internal server error", Status: http.StatusInternalServerError,
		Detail: "an unexpected error occurred; quote the request_id when reporting it"}, false
}

// writeProblem renders err as problem+json. Unexpected errors are logged with the
// request ID; their text never reaches the client.
func (a *API) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	p, ok := toProblem(err)
	if !ok {
		level := slogLevelFor(ctx)
		a.log.Log(ctx, level, "admin request failed", "method", r.Method, "route", r.Pattern,
			"request_id", requestid.FromContext(ctx), "error", err.Error())
	}
	out := *p
	out.RequestID = requestid.FromContext(ctx)
	if out.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nines-admin"`) // RFC 6750 §3
	}
	if out.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(out.retryAfter))
	}
	w.Header().Set("Content-Type", problemMediaType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(out.Status)
	_ = json.NewEncoder(w).Encode(out)
}

// slogLevelFor logs a failure of a request whose client went away at debug: the
// resulting "500" is never seen by anyone.
func slogLevelFor(ctx context.Context) slog.Level {
	if ctx.Err() != nil {
		return slog.LevelDebug
	}
	return slog.LevelError
}

// orNotFound names the missing entity in a store.ErrNotFound.
func orNotFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(what)
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
