package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ninesid/nines/internal/requestid"
)

// libResponse buffers what zitadel/oidc's router writes, so that its own errors (request
// parsing, client credentials format, grant type checks) leave through the same boundary
// as ours: a known code keeps its code but gets our status and fixed text; anything else
// becomes server_error. Responses of these endpoints are small JSON documents.
type libResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *libResponse) Header() http.Header { return b.header }
func (b *libResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}
func (b *libResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.body.Len()+len(p) > 1<<20 {
		return 0, errors.New("oidc: library response too large")
	}
	return b.body.Write(p)
}

// maxLibraryBody bounds the form body of the library-routed endpoints: a token request
// with a client assertion is a few KiB.
const maxLibraryBody = 64 << 10

// library serves h (the library's router) through the error boundary.
func (p *Provider) library(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			// RFC 6749 §3.2, RFC 7662 §2.1, RFC 7009 §2.1: parameters in the body only;
			// credentials must not travel in a URL.
			p.writeJSONError(w, r, InvalidRequest("query string on a POST-only endpoint"))
			return
		}
		// The body is read here, bounded, so that an oversized one is invalid_request
		// whatever the library would make of a failing reader.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLibraryBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				p.writeJSONError(w, r, InvalidRequest("body larger than %d bytes", maxLibraryBody))
				return
			}
			p.writeJSONError(w, r, InvalidRequest("body unreadable: %v", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		buf := &libResponse{header: http.Header{}}
		h.ServeHTTP(buf, r)
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		if buf.status < 400 {
			for k, vs := range buf.header {
				w.Header()[k] = vs
			}
			w.Header().Set("Content-Length", strconv.Itoa(buf.body.Len()))
			w.WriteHeader(buf.status)
			_, _ = w.Write(buf.body.Bytes())
			return
		}
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(buf.body.Bytes(), &e)
		code := e.Error
		if _, known := codes[code]; !known {
			code = CodeServerError
		}
		// Our own errors were logged with their cause by toLibrary; this line also
		// records the library's own (request parsing) refusals.
		p.log.InfoContext(r.Context(), "oidc response", slog.String("request_id", requestid.FromContext(r.Context())),
			slog.String("error", code), slog.Int("library_status", buf.status))
		status, _ := Describe(code)
		writeErrorCode(w, code, status)
	})
}
