package replay

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/ninesid/nines/internal/requestid"
)

// Problem types (RFC 9457 §3.1.1) this package answers with, the same as the admin API's
// and the edge's for the same conditions; stable, clients switch on them.
const (
	typePrefix      = "urn:nines:problem:"
	typeMalformed   = typePrefix + "malformed-request"
	typeTooLarge    = typePrefix + "payload-too-large"
	typeUnavailable = typePrefix + "unavailable"
	typeConflict    = typePrefix + "conflict"
)

// problem is an RFC 9457 problem details object. Detail is fixed text chosen here.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	retryAfter int // seconds; 0: no Retry-After
}

// The answers of this package.
var (
	problemMalformedKey = problem{Type: typeMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
		Detail: "the " + keyHeader + " header is not a retry key"}
	problemUnreadable = problem{Type: typeMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
		Detail: "the request body could not be read"}
	problemTooLarge = problem{Type: typeTooLarge, Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
		Detail: "the request body is larger than a retryable request may be"}
	problemPending = problem{Type: typeUnavailable, Title: "Unavailable", Status: http.StatusServiceUnavailable,
		Detail: "an earlier attempt of this request is still running; retry shortly", retryAfter: 1}
	problemMismatch = problem{Type: typeConflict, Title: "Conflict", Status: http.StatusConflict,
		Detail: "the retry key's record belongs to another request"}
)

// writeProblem answers r with p and its request ID, in problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	p.RequestID = requestid.FromContext(r.Context())
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
