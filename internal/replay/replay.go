package replay

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/retrykey"
)

// Header names, from the contract with the edge.
const (
	keyHeader      = retrykey.Header
	replayedHeader = retrykey.ReplayedHeader
)

// Defaults of Config.
const (
	// DefaultMaxBody bounds a request body: the login surface's forms and token requests
	// are a few KiB, and the edge keeps no more to repeat one.
	DefaultMaxBody = 64 << 10
	// DefaultRunTimeout bounds the first attempt's handler, which no longer stops when
	// the caller leaves.
	DefaultRunTimeout = 30 * time.Second
	// DefaultWaitTimeout is how long a repeat waits for the attempt it found pending.
	DefaultWaitTimeout = 10 * time.Second
	// DefaultPollEvery is how often a waiting repeat reads the entry.
	DefaultPollEvery = 40 * time.Millisecond
	// DefaultKVTimeout bounds one operation on the bucket.
	DefaultKVTimeout = 5 * time.Second
	// maxRounds bounds how often a repeat tries to take over a request whose earlier
	// attempts failed (their markers removed) before it answers 503.
	maxRounds = 4
)

// Config configures New.
type Config struct {
	// Bucket holds the markers and records (kv.Buckets.Replay); required.
	Bucket kv.Bucket
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// MaxBody bounds the body of a request with a key (413 past it); 0: DefaultMaxBody.
	MaxBody int
	// MaxRecord bounds a sealed record; an answer that does not fit is not recorded.
	// 0: kv.ReplayMaxValueSize.
	MaxRecord int
	// RunTimeout bounds the first attempt's handler; 0: DefaultRunTimeout.
	RunTimeout time.Duration
	// WaitTimeout bounds a repeat's wait for a pending attempt; 0: DefaultWaitTimeout.
	WaitTimeout time.Duration
	// PollEvery is how often a waiting repeat reads the entry; 0: DefaultPollEvery.
	PollEvery time.Duration
	// KVTimeout bounds one bucket operation; 0: DefaultKVTimeout.
	KVTimeout time.Duration
	// FromEdge reports whether r came from a proxy whose retry keys count (the edges:
	// NINES_TRUSTED_PROXIES); the header of any other caller is removed and its request
	// runs as one without a key. nil: every caller's.
	FromEdge func(r *http.Request) bool
}

// ErrNoBucket: Config.Bucket is nil.
var ErrNoBucket = errors.New("replay: no bucket")

// Middleware runs each request with a retry key once and answers its repeats from the
// record (see the package documentation). Make it with New.
type Middleware struct {
	c      Config
	log    *slog.Logger
	counts counters
}

// New returns the middleware of c.
func New(c Config) (*Middleware, error) {
	if c.Bucket == nil {
		return nil, ErrNoBucket
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxRecord <= 0 {
		c.MaxRecord = kv.ReplayMaxValueSize
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = DefaultRunTimeout
	}
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.PollEvery <= 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.KVTimeout <= 0 {
		c.KVTimeout = DefaultKVTimeout
	}
	return &Middleware{c: c, log: c.Logger}, nil
}

// Wrap returns next behind the middleware. Requests with a safe method (GET, HEAD,
// OPTIONS) or without retrykey.Header reach next untouched; so does one whose header
// did not come from an edge (Config.FromEdge), without the header.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals, ok := r.Header[keyHeader]
		if ok && m.c.FromEdge != nil && !m.c.FromEdge(r) {
			// Only the edge chooses keys: a caller that reaches this process directly
			// would otherwise fill the bucket with records of its own.
			r.Header.Del(keyHeader)
			ok = false
		}
		if !ok || safe(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if len(vals) != 1 || !retrykey.Valid(vals[0]) {
			m.reject(w, r, problemMalformedKey)
			return
		}
		key, _ := base64.RawURLEncoding.DecodeString(vals[0]) // Valid: 16 bytes
		body, err := io.ReadAll(io.LimitReader(r.Body, int64(m.c.MaxBody)+1))
		switch {
		case err != nil:
			m.reject(w, r, problemUnreadable)
			return
		case len(body) > m.c.MaxBody:
			m.reject(w, r, problemTooLarge)
			return
		}
		m.serve(w, r, next, &request{key: key, id: recordID(key, r, body), body: body})
	})
}

// safe reports whether method is one the edge repeats without a key.
func safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// request is one request with a retry key.
type request struct {
	key  []byte // the retry key's 16 bytes: never stored or logged
	id   string // the entry's name (recordID)
	body []byte
}

// withBody is r with the body read from it restored, on ctx.
func (q *request) withBody(ctx context.Context, r *http.Request) *http.Request {
	r2 := r.WithContext(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(q.body))
	r2.ContentLength = int64(len(q.body))
	r2.GetBody = nil
	return r2
}

// serve runs the request if no attempt has, and answers from an earlier attempt's
// record otherwise.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, q *request) {
	var deadline time.Time // of the wait for an earlier attempt, set when first waiting
	for range maxRounds {
		marker := newMarker()
		rev, err := m.create(r.Context(), q.id, marker)
		switch {
		case err == nil:
			m.run(w, r, next, q, marker, rev)
			return
		case !errors.Is(err, kv.ErrExists):
			m.count(Unprotected)
			level := slog.LevelDebug
			if !errors.Is(err, kv.ErrUnavailable) {
				level = slog.LevelWarn // not a state of the KV: a bug or a bound (a key this long?)
			}
			m.log.LogAttrs(r.Context(), level, "replay: running a request without its record",
				slog.String("request_id", requestid.FromContext(r.Context())), slog.String("error", err.Error()))
			next.ServeHTTP(w, q.withBody(r.Context(), r))
			return
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(m.c.WaitTimeout)
		}
		v, found := m.wait(r.Context(), q.id, deadline)
		if v == nil && !found {
			continue // the earlier attempt failed and removed its marker: run it here
		}
		if v == nil {
			m.count(WaitedOut)
			writeProblem(w, r, problemPending)
			return
		}
		pt, err := open(q.key, q.id, v)
		var a answer
		if err == nil {
			a, err = decodeAnswer(pt)
		}
		if err != nil {
			// The ID covers the key, so a record that does not open with it was not
			// written by this package for this request.
			m.log.LogAttrs(r.Context(), slog.LevelWarn, "replay: the record of a retried request does not open",
				slog.String("request_id", requestid.FromContext(r.Context())))
			m.reject(w, r, problemMismatch)
			return
		}
		m.count(Replayed)
		writeAnswer(w, a, true)
		return
	}
	m.count(WaitedOut)
	writeProblem(w, r, problemPending)
}

// create writes the pending marker, on a context that the caller's leaving does not
// cancel: a marker written but not acknowledged would hold up the repeats.
func (m *Middleware) create(ctx context.Context, id string, marker []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c.KVTimeout)
	defer cancel()
	return m.c.Bucket.Create(ctx, id, marker)
}

// run runs the first attempt on a detached context bounded by RunTimeout, records an
// answer below 400 in place of marker (written at rev) and removes the marker
// otherwise, then writes the answer to w. A panic of next removes the marker and goes
// on.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, next http.Handler, q *request, marker []byte, rev uint64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), m.c.RunTimeout)
	defer cancel()
	c := newCapture(w, m.c.MaxRecord)
	done := false
	defer func() {
		if !done { // a panic (or runtime.Goexit) in next: let a repeat run it again
			m.release(r.Context(), q.id, marker, rev)
			m.count(NotRecorded)
		}
	}()
	next.ServeHTTP(c, q.withBody(ctx, r))
	done = true

	a := c.result()
	switch {
	case c.passed, a.status >= 400:
		m.release(r.Context(), q.id, marker, rev)
		m.count(NotRecorded)
	default:
		if err := m.record(r.Context(), q, marker, rev, a); err != nil {
			m.log.LogAttrs(r.Context(), slog.LevelWarn, "replay: answer not recorded",
				slog.String("request_id", requestid.FromContext(r.Context())), slog.String("error", err.Error()))
			m.release(r.Context(), q.id, marker, rev)
			m.count(NotRecorded)
		} else {
			m.count(Recorded)
		}
	}
	c.finish()
}

// errTooLarge: the sealed answer does not fit MaxRecord.
var errTooLarge = errors.New("replay: answer too large to record")

// record seals a and writes it in place of marker.
func (m *Middleware) record(ctx context.Context, q *request, marker []byte, rev uint64, a answer) error {
	pt := a.encode()
	if len(pt)+sealOverhead > m.c.MaxRecord {
		return errTooLarge
	}
	v, err := seal(q.key, q.id, pt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c.KVTimeout)
	defer cancel()
	_, err = m.c.Bucket.Update(ctx, q.id, v, rev)
	if errors.Is(err, kv.ErrConflict) {
		// The marker's revision changed under it (the KV fallback promoting an entry
		// written during an outage): write over it only while it is still this
		// attempt's marker.
		var e kv.Entry
		if e, err = m.c.Bucket.Get(ctx, q.id); err == nil {
			if !bytes.Equal(e.Value, marker) {
				return errors.New("replay: the pending marker is no longer this attempt's")
			}
			_, err = m.c.Bucket.Update(ctx, q.id, v, e.Revision)
		}
	}
	return err
}

// release removes marker (written at rev) so that a repeat runs the request again; it
// never removes another attempt's entry.
func (m *Middleware) release(ctx context.Context, id string, marker []byte, rev uint64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c.KVTimeout)
	defer cancel()
	err := m.c.Bucket.Delete(ctx, id, rev)
	if errors.Is(err, kv.ErrConflict) {
		var e kv.Entry
		switch e, err = m.c.Bucket.Get(ctx, id); {
		case errors.Is(err, kv.ErrNotFound):
			err = nil
		case err == nil && bytes.Equal(e.Value, marker):
			err = m.c.Bucket.Delete(ctx, id, e.Revision)
		case err == nil:
			// Another attempt's entry (after this marker expired): not ours to remove.
		}
	}
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		m.log.LogAttrs(ctx, slog.LevelWarn, "replay: pending marker not removed; repeats of the request wait it out",
			slog.String("request_id", requestid.FromContext(ctx)), slog.String("error", err.Error()))
	}
}

// wait reads the entry id until it is a done record (returned), disappears (nil,
// false), or deadline or the caller's leaving comes first (nil, true). A bucket that
// does not answer is waited out too: the earlier attempt may still finish.
func (m *Middleware) wait(ctx context.Context, id string, deadline time.Time) (record []byte, found bool) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, true
		case <-t.C:
		}
		gctx, gcancel := context.WithTimeout(ctx, m.c.KVTimeout)
		e, err := m.c.Bucket.Get(gctx, id)
		gcancel()
		switch {
		case err == nil && isDone(e.Value):
			return e.Value, true
		case err == nil && !isPending(e.Value):
			return e.Value, true // not a marker: opening it fails, and says so
		case errors.Is(err, kv.ErrNotFound):
			return nil, false
		}
		t.Reset(m.c.PollEvery)
	}
}

// reject answers with p for a request that does not run.
func (m *Middleware) reject(w http.ResponseWriter, r *http.Request, p problem) {
	m.count(Rejected)
	writeProblem(w, r, p)
}

func (m *Middleware) count(o Outcome) { m.counts.add(o) }
