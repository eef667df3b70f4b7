package app

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/ninesid/nines/internal/requestid"
)

// recoverPanics turns a handler panic into a 500 problem+json and logs the stack with
// the request ID. http.ErrAbortHandler is re-panicked: it is how a handler asks
// net/http to abort the response.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			id := requestid.FromContext(r.Context())
			logger.Error("panic serving request", "request_id", id, "panic", v, "stack", string(debug.Stack()))
			if rec, ok := w.(*recorder); !ok || rec.status == 0 {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"request_id":"` + id + `"}` + "\n"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// recorder remembers the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLog logs one line per request: method, the matched route pattern (never the raw
// path or query, which may carry secrets or personal data), status, bytes, duration and
// request ID. It never logs headers, so never Authorization or cookies. Health probes
// are logged at debug level.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			pattern := r.Pattern
			if pattern == "" {
				pattern = "(unmatched)"
			}
			level := slog.LevelInfo
			if pattern == "GET /healthz" || pattern == "GET /readyz" {
				level = slog.LevelDebug // probes every few seconds would drown the log
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("route", pattern),
				slog.Int("status", status),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", requestid.FromContext(r.Context())),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

// chain is the middleware every request goes through, outermost first: request ID,
// access log, panic recovery, then mux (the ServeMux, or the ServeMux wrapped by the
// metrics, which must see the same *http.Request as the mux to read r.Pattern).
func chain(logger *slog.Logger, mux http.Handler) http.Handler {
	return requestid.Middleware(accessLog(logger, recoverPanics(logger, mux)))
}
