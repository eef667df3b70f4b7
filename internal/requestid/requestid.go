// Package requestid gives every HTTP request an ID that follows it through logs and error
// bodies. An incoming X-Request-Id is kept only when it is short and plain (it is echoed
// into logs and responses); otherwise a new one is made.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"regexp"
)

// Header is the request and response header that carries the ID.
const Header = "X-Request-Id"

type key struct{}

var acceptable = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,64}$`)

// New returns a fresh random ID.
func New() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// FromContext returns the request's ID, or "" outside a request.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// WithID returns ctx carrying id.
func WithID(ctx context.Context, id string) context.Context { return context.WithValue(ctx, key{}, id) }

// Middleware assigns the ID, puts it in the request context and the response header.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !acceptable.MatchString(id) {
			id = New()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(WithID(r.Context(), id)))
	})
}
