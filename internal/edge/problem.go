package edge

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/ninesid/nines/internal/requestid"
)

// Problem types (RFC 9457 §3.1.1) the edge answers with; stable, clients switch on them.
const (
	typePrefix       = "urn:nines:problem:"
	typeNotFound     = typePrefix + "not-found"
	typeTooLarge     = typePrefix + "payload-too-large"
	typeUnavailable  = typePrefix + "unavailable"
	typeBadGateway   = typePrefix + "bad-gateway"
	typeTimeout      = typePrefix + "gateway-timeout"
	typeUnauthorized = typePrefix + "unauthorized"
	typeMalformed    = typePrefix + "malformed-request"
	typeValidation   = typePrefix + "validation"
	typeConflict     = typePrefix + "conflict"
	typeRefused      = typePrefix + "pre-scale-refused"
	typeMethod       = typePrefix + "method-not-allowed"
	typeMediaType    = typePrefix + "unsupported-media-type"
)

// problem is an RFC 9457 problem details object. Detail is fixed text chosen by the
// edge, never a wrapped error.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Errors    []any  `json:"errors,omitempty"`
	// Check is the pre-scale check that refused a change.
	Check *CheckResult `json:"check,omitempty"`

	retryAfter int
}

func (p *problem) Error() string { return p.Title + ": " + p.Detail }

func writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	p.RequestID = requestid.FromContext(r.Context())
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func notFound() *problem {
	return &problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such resource"}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
