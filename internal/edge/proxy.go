package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/retrykey"
)

// retryBodyMax is the largest request body the edge buffers so that it can replay it on
// a retry; a larger body streams through and its request is never retried.
const retryBodyMax = 64 << 10

// connectTimeout bounds a connection to a backend; a backend that does not accept in
// this time is a connect failure (nothing was sent: retried on another backend).
const connectTimeout = time.Second

var (
	errNoBackend  = errors.New("no backend available")
	errTryTimeout = errors.New("no response from the backend within the attempt timeout")
)

type planKey struct{}

// plan is a proxied request's routing decision, carried in its context from ServeHTTP
// to the transport.
type plan struct {
	rq *routeReq
	rt *routing
}

func planFrom(ctx context.Context) *plan {
	p, _ := ctx.Value(planKey{}).(*plan)
	return p
}

// ServeHTTP proxies a public request: classify it (404 when no tier serves the path),
// enforce the tier's body limit (413) and timeout, give a login-tier request that is
// not idempotent and whose body is buffered its retry key, then hand it to the reverse
// proxy, whose transport picks the backend and retries.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := e.rt.Load()
	rq, ok := rt.classify(r)
	if !ok {
		e.metrics.notFound.Inc()
		writeProblem(w, r, notFound())
		return
	}
	limit := rq.limits.MaxBodyBytes
	if r.ContentLength > limit {
		writeProblem(w, r, tooLarge(limit))
		return
	}
	rq.replayable = true
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body := http.MaxBytesReader(w, r.Body, limit)
		buf, err := io.ReadAll(io.LimitReader(body, retryBodyMax+1))
		var mb *http.MaxBytesError
		switch {
		case errors.As(err, &mb):
			writeProblem(w, r, tooLarge(limit))
			return
		case err != nil:
			writeProblem(w, r, &problem{Type: typeMalformed, Title: "Bad request", Status: http.StatusBadRequest,
				Detail: "the request body could not be read"})
			return
		case len(buf) <= retryBodyMax:
			rq.body = buf
			r.Body = io.NopCloser(bytes.NewReader(buf))
			r.ContentLength = int64(len(buf))
		default: // larger than what is buffered: stream the rest, no retry
			rq.replayable = false
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(buf), body), body}
		}
	}
	if rq.tier == tierLogin && !rq.idempotent && rq.replayable {
		// One key per client request, sent on every attempt: the login tier runs the
		// request once and answers a repeat (the edge's retry) from its record.
		rq.retryKey = retrykey.New()
	}
	rt.tagRequest(rq, r)
	ctx, cancel := context.WithTimeout(r.Context(), rq.limits.Timeout.D())
	defer cancel()
	ctx = context.WithValue(ctx, planKey{}, &plan{rq: rq, rt: rt})
	e.budget.request()
	e.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func tooLarge(limit int64) *problem {
	return &problem{Type: typeTooLarge, Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
		Detail: "the request body is larger than this route accepts (" + itoa(limit) + " bytes)"}
}

// newProxy builds the reverse proxy: Rewrite sets the forwarding headers and the path,
// the edge itself is the transport (it picks a backend per attempt).
func (e *Edge) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:   e.rewrite,
		Transport: roundTripper{e},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del(requestid.Header) // the edge's own is set already; the same ID
			return nil
		},
		ErrorHandler: e.proxyError,
		BufferPool:   bufferPool{},
	}
}

// bufferPool recycles the proxy's copy buffers (32 KiB each, one per response
// otherwise).
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[32 << 10]byte)[:] }

func (bufferPool) Put(b []byte) {
	if cap(b) == 32<<10 {
		copyBuffers.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}

// rewrite makes the outbound request. ReverseProxy has removed the inbound
// X-Forwarded-For/-Host/-Proto already; the edge removes Forwarded and every other
// X-Forwarded-* too, then sets them from what it knows itself (the TCP peer, or the
// client found behind trusted proxies in front of the edge), so nothing downstream
// derives a tenant, an issuer or a client address from what a client sent. It removes
// a retry key a client sent too (a client choosing the key could get another client's
// recorded answer, or make the login tier replay instead of run), and sets the edge's
// own when the request has one.
func (e *Edge) rewrite(pr *httputil.ProxyRequest) {
	pl := planFrom(pr.In.Context())
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "backend.invalid" // set per attempt by the transport
	pr.Out.URL.Path, pr.Out.URL.RawPath = pl.rq.path, pl.rq.rawPath
	h := pr.Out.Header
	for k := range h {
		if strings.HasPrefix(k, "X-Forwarded-") || k == "Forwarded" || k == "X-Real-Ip" || k == retrykey.Header {
			delete(h, k)
		}
	}
	if pl.rq.retryKey != "" {
		h.Set(retrykey.Header, pl.rq.retryKey)
	}
	client := e.clientIP.ClientIP(pr.In)
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	} else if e.clientIP.Trusts(pr.In.RemoteAddr) {
		if p := pr.In.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			proto = p
		}
	}
	h.Set("X-Forwarded-For", client)
	h.Set("X-Forwarded-Host", pr.In.Host)
	h.Set("X-Forwarded-Proto", proto)
	h.Set("Forwarded", forwarded(client, pr.In.Host, proto))
	h.Set(requestid.Header, requestid.FromContext(pr.In.Context()))
	pr.Out.Host = pr.In.Host
}

// forwarded is an RFC 7239 Forwarded value: for (an IPv6 address quoted in brackets),
// host (quoted) and proto.
func forwarded(client, host, proto string) string {
	f := client
	if strings.Contains(client, ":") {
		f = `"[` + client + `]"`
	}
	return "for=" + f + `;host="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(host) + `";proto=` + proto
}

// proxyError answers a request no backend answered.
func (e *Edge) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var mb *http.MaxBytesError
	var p *problem
	switch {
	case errors.As(err, &mb):
		p = tooLarge(mb.Limit)
	case errors.Is(err, errNoBackend):
		p = &problem{Type: typeUnavailable, Title: "Service unavailable", Status: http.StatusServiceUnavailable,
			Detail: "no backend can take this request now", retryAfter: 1}
	case errors.Is(err, errTryTimeout), errors.Is(err, context.DeadlineExceeded):
		p = &problem{Type: typeTimeout, Title: "Gateway timeout", Status: http.StatusGatewayTimeout,
			Detail: "the backend did not answer in time"}
	default:
		p = &problem{Type: typeBadGateway, Title: "Bad gateway", Status: http.StatusBadGateway,
			Detail: "the backend could not be reached or failed before answering"}
	}
	if r.Context().Err() == nil || errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		e.logger.Debug("edge request failed", "request_id", requestid.FromContext(r.Context()), "status", p.Status, "error", err.Error())
	}
	e.metrics.edgeErrors.WithLabelValues(itoa(int64(p.Status))).Inc()
	writeProblem(w, r, p)
}

// roundTripper is the reverse proxy's transport: every attempt picks a backend.
type roundTripper struct{ e *Edge }

// RoundTrip sends out to a backend and, when the attempt failed in a way that is safe
// to repeat (see retryable) and the retry budget allows, once more to another backend,
// preferring another cluster and another zone (see pick): a connect failure (nothing
// reached the backend) for any request; a timeout before the response headers, a
// broken connection or a 5xx that counts as a failure for an idempotent one; a timeout
// before the response headers, a broken connection or a 502/503/504 for a request with
// a retry key, sent again with the same key. A request whose body was too large to
// buffer is never retried, nor one whose client went away.
func (rtp roundTripper) RoundTrip(out *http.Request) (*http.Response, error) {
	e := rtp.e
	pl := planFrom(out.Context())
	if pl == nil {
		return nil, errors.New("edge: request without a routing plan")
	}
	var tried []*backend
	now := time.Now()
	t, panicked := pick(pl.rq, e.state.load(), nil, now)
	if a := affinityOutcome(pl.rq, t); a != "" {
		e.metrics.affinity.WithLabelValues(a).Inc()
	}
	for attempt := 0; ; attempt++ {
		if t.b == nil {
			return nil, errNoBackend
		}
		if panicked {
			e.metrics.panicRouting.Inc()
		}
		resp, oc, err := e.attempt(out, pl, t)
		e.observe(pl.rt, t, oc, time.Now())
		e.metrics.attempt(t, oc)
		if attempt > 0 || !e.retryable(out, pl.rq, oc, resp) {
			return resp, err
		}
		tried = append(tried, t.b)
		if pl.rq.retryKey != "" && oc != outcomeConnect {
			pl.rq.pinRegion = t.b.region // the record, if any, is in this region's bucket
		}
		next, nextPanicked := pick(pl.rq, e.state.load(), tried, time.Now())
		if next.b == nil {
			return resp, err
		}
		if !e.budget.take() {
			e.metrics.retryRefused.Inc()
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		t.b.retries.Add(1)
		e.metrics.retry(t, oc)
		if pl.rq.retryKey != "" && oc != outcomeConnect {
			e.metrics.keyedRetries.Inc()
		}
		t, panicked = next, nextPanicked
	}
}

// retryable reports whether an attempt of rq that ended with oc (and resp, when the
// backend answered) may be repeated on another backend. Never when the client went away
// (or the request's own timeout passed) or the body was not buffered. Otherwise:
//
//   - a connect failure, for any request: nothing reached the backend;
//   - a timeout before the response headers, a broken connection, or a 5xx that counts
//     as a failure (countsAsFailure), for an idempotent request;
//   - a timeout before the response headers, a broken connection, or a 502, 503 or 504
//     that counts as a failure, for a request with a retry key: the login tier runs a
//     keyed request once and answers the repeat from its record, or runs it again when
//     the first attempt ended in a 5xx (it records none). A 500 or another 5xx is not
//     repeated: the request ran and failed there, perhaps after its effect.
//
// A request without a key that is not idempotent (an admin POST, a login POST whose
// body streamed through) is retried after a connect failure only.
func (e *Edge) retryable(out *http.Request, rq *routeReq, oc outcome, resp *http.Response) bool {
	if out.Context().Err() != nil || !rq.replayable {
		return false
	}
	keyed := rq.retryKey != ""
	switch oc {
	case outcomeConnect:
		return true
	case outcomeTimeout, outcomeError:
		return rq.idempotent || keyed
	case outcome5xx:
		return rq.idempotent || (keyed && resp != nil && gatewayStatus(resp.StatusCode))
	}
	return false
}

// gatewayStatus reports whether status is 502, 503 or 504: a backend (or something in
// front of it) that could not take or finish the request, rather than a request that
// ran and failed (500).
func gatewayStatus(status int) bool {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// attempt sends out to t.b with the attempt timeout (until the response headers).
func (e *Edge) attempt(out *http.Request, pl *plan, t target) (*http.Response, outcome, error) {
	ctx, cancel := context.WithCancel(out.Context())
	var timedOut atomic.Bool
	timer := time.AfterFunc(pl.rq.limits.TryTimeout.D(), func() { timedOut.Store(true); cancel() })
	req := out.WithContext(ctx)
	u := *out.URL
	u.Scheme, u.Host = t.b.url.Scheme, t.b.url.Host
	req.URL = &u
	if pl.rq.replayable {
		body := pl.rq.body
		req.ContentLength = int64(len(body))
		req.TransferEncoding = nil
		if len(body) == 0 {
			req.Body, req.GetBody = http.NoBody, nil
		} else {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
	}
	t.b.outstanding.Add(1)
	start := time.Now()
	resp, err := e.base.RoundTrip(req)
	stopped := timer.Stop()
	if err == nil && !stopped {
		// The attempt timed out as the headers arrived: the body is cut off already.
		resp.Body.Close()
		resp, err = nil, errTryTimeout
	}
	if err != nil {
		t.b.outstanding.Add(-1)
		cancel()
		switch cerr := out.Context().Err(); {
		case cerr != nil && !errors.Is(cerr, context.DeadlineExceeded):
			return nil, outcomeCanceled, cerr // the client went away
		case isDial(err):
			return nil, outcomeConnect, err // nothing was sent (a slow accept included)
		case timedOut.Load():
			return nil, outcomeTimeout, errTryTimeout
		case cerr != nil:
			return nil, outcomeTimeout, cerr // the request's own timeout, waiting on this backend
		}
		return nil, outcomeError, err
	}
	e.metrics.latency(t, time.Since(start))
	oc := outcomeOK
	if countsAsFailure(resp) {
		oc = outcome5xx
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.b.outstanding.Add(-1) // the proxy takes the connection over; no body to track
		return resp, oc, nil
	}
	resp.Body = &trackedBody{ReadCloser: resp.Body, done: func() { t.b.outstanding.Add(-1); cancel() }}
	return resp, oc, nil
}

// trackedBody calls done once, when the response body is closed.
type trackedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// isDial reports whether err happened while connecting (nothing was sent).
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// newTransport is the transport to the backends: plain HTTP/1.1 on a private network,
// many idle connections per backend (a new connection per request would cost a
// handshake and a port each), a short connect timeout, no transparent compression; the
// response timeout is per attempt (attempt).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // pass Accept-Encoding through as the client sent it
		MaxResponseHeaderBytes: 64 << 10,
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
