package replay

import (
	"bytes"
	"net/http"
	"net/textproto"

	"github.com/ninesid/nines/internal/requestid"
)

// capture is the ResponseWriter the first attempt's handler writes to. It holds the
// answer in memory, up to limit bytes of body, so that it can be recorded before it is
// written to the caller. Past limit it gives up recording and streams the rest to the
// real writer (passed). It does not implement http.Flusher or http.Hijacker: the
// login surface does neither.
type capture struct {
	w      http.ResponseWriter
	limit  int
	header http.Header // what the handler sets; starts empty
	// sent is header as it was at WriteHeader, as net/http freezes it then.
	sent   http.Header
	status int // 0 until WriteHeader or the first Write
	body   bytes.Buffer
	passed bool // the answer went past limit and is being streamed to w
}

func newCapture(w http.ResponseWriter, limit int) *capture {
	return &capture{w: w, limit: limit, header: make(http.Header)}
}

// Header is the handler's header map. Unlike the real writer's it does not hold what
// middleware further out set (the request ID), which must not be recorded.
func (c *capture) Header() http.Header { return c.header }

// WriteHeader freezes the status and the header. Informational (1xx) answers are not
// passed on.
func (c *capture) WriteHeader(code int) {
	if c.status != 0 || code < 200 {
		return
	}
	c.status = code
	c.sent = c.header.Clone()
}

// Write holds b, or streams it once the body has gone past the limit. It never fails:
// a caller that went away must not stop the handler.
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.passed {
		_, _ = c.w.Write(b)
		return len(b), nil
	}
	if c.body.Len()+len(b) > c.limit {
		c.pass()
		_, _ = c.w.Write(b)
		return len(b), nil
	}
	c.body.Write(b)
	return len(b), nil
}

// pass writes what is held to the real writer and streams from then on.
func (c *capture) pass() {
	c.passed = true
	writeAnswer(c.w, c.result(), false)
	c.body = bytes.Buffer{}
}

// result is the answer as the handler produced it (200 with no body when it wrote
// nothing).
func (c *capture) result() answer {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	return answer{status: c.status, header: recordable(c.sent), body: c.body.Bytes()}
}

// finish writes the held answer to the real writer, unless it was streamed.
func (c *capture) finish() {
	if !c.passed {
		writeAnswer(c.w, c.result(), false)
	}
}

// writeAnswer writes a to w: its header fields replace those of the same name (others,
// such as the request ID, stay); replayed adds retrykey.ReplayedHeader. Write errors are
// ignored: the caller may be gone.
func writeAnswer(w http.ResponseWriter, a answer, replayed bool) {
	h := w.Header()
	for k, vs := range a.header {
		h[k] = vs
	}
	if replayed {
		h.Set(replayedHeader, "1")
	}
	w.WriteHeader(a.status)
	if len(a.body) > 0 {
		_, _ = w.Write(a.body)
	}
}

// notRecorded are header fields never recorded: the connection's own (net/http sets
// them) and the request ID, which is each attempt's.
var notRecorded = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Upgrade": true, "Trailer": true, "Te": true, "Date": true,
	textproto.CanonicalMIMEHeaderKey(requestid.Header): true,
}

// recordable is h without the fields in notRecorded.
func recordable(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if notRecorded[textproto.CanonicalMIMEHeaderKey(k)] {
			continue
		}
		out[k] = vs
	}
	return out
}
