package changes

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/ninesid/nines/internal/natsd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// connect starts an in-process NATS server and returns two connections to it: changes
// travel between connections, as between an admin and a login process.
func connect(t *testing.T) (pubConn, subConn *nats.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := natsd.Start(ctx, natsd.Options{StoreDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	for _, nc := range []**nats.Conn{&pubConn, &subConn} {
		if *nc, err = srv.Connect(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup((*nc).Close)
	}
	return pubConn, subConn
}

// recorder is a Handler that keeps what it got.
type recorder struct {
	mu  sync.Mutex
	got []Change
	ch  chan Change
}

func newRecorder() *recorder { return &recorder{ch: make(chan Change, 64)} }

func (r *recorder) handle(c Change) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
	r.ch <- c
}

// next waits (bounded) for the next change handed to r.
func (r *recorder) next(t *testing.T) Change {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change delivered within 10s")
		return Change{}
	}
}

func subscribe(t *testing.T, nc *nats.Conn, prefix string, kinds ...Kind) (*Subscriber, *recorder) {
	t.Helper()
	r := newRecorder()
	hs := map[Kind]Handler{}
	for _, k := range kinds {
		hs[k] = r.handle
	}
	s, err := Subscribe(SubscriberConfig{Conn: nc, Prefix: prefix, Handlers: hs, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// The subscription must reach the server before anything is published to it.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s, r
}

func TestPublishSubscribe(t *testing.T) {
	pc, sc := connect(t)
	sub, rec := subscribe(t, sc, "", Keys)
	_, other := subscribe(t, sc, "qe", Keys) // another namespace on the same broker
	pub, err := NewPublisher(PublisherConfig{Conn: pc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Tenant: uuid.Must(uuid.NewV7()), Kind: Keys, Version: 3},
		{Tenant: uuid.Must(uuid.NewV7()), Kind: Keys}, // no version: omitted on the wire, 0 again
	}
	for _, c := range want {
		if err := pub.Publish(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range want {
		if got := rec.next(t); got != w {
			t.Errorf("received %+v, want %+v", got, w)
		}
	}
	if st := pub.Stats(); st != (PublisherStats{Published: 2}) {
		t.Errorf("publisher stats %+v", st)
	}
	if st := sub.Stats(); st != (SubscriberStats{Handled: 2}) {
		t.Errorf("subscriber stats %+v", st)
	}
	// The qe namespace's subscriber saw none of it: a change it gets now is the first.
	qe, err := NewPublisher(PublisherConfig{Conn: pc, Prefix: "qe", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	mark := Change{Tenant: uuid.Must(uuid.NewV7()), Kind: Keys, Version: 1}
	if err := qe.Publish(t.Context(), mark); err != nil {
		t.Fatal(err)
	}
	if got := other.next(t); got != mark {
		t.Errorf("the qe subscriber received %+v first, want %+v", got, mark)
	}
}

// TestSubscriberDropsBadMessages: every malformed, oversized or unknown-kind message is
// dropped and counted; unknown members are counted and the change is still handled.
// Messages from one connection arrive in order, so the last one, a valid change, shows
// that everything before it was processed.
func TestSubscriberDropsBadMessages(t *testing.T) {
	pc, sc := connect(t)
	sub, rec := subscribe(t, sc, "", Keys)
	tid := uuid.Must(uuid.NewV7())
	ok := `{"tenant":"` + tid.String() + `","kind":"keys","version":2}`
	keys := Subject("", Keys)
	bad := []struct {
		name, subject, body string
	}{
		{"oversized", keys, `{"tenant":"` + tid.String() + `","kind":"keys","pad":"` + strings.Repeat("x", MaxMessageBytes) + `"}`},
		{"not JSON", keys, `tenant=` + tid.String()},
		{"empty", keys, ``},
		{"an array", keys, `[` + ok + `]`},
		{"a string", keys, `"keys"`},
		{"data after the object", keys, ok + `{}`},
		{"two objects", keys, ok + ok},
		{"repeated member", keys, `{"tenant":"` + tid.String() + `","kind":"keys","kind":"keys"}`},
		{"no tenant", keys, `{"kind":"keys","version":2}`},
		{"nil tenant", keys, `{"tenant":"` + uuid.Nil.String() + `","kind":"keys"}`},
		{"tenant not canonical", keys, `{"tenant":"` + strings.ToUpper(tid.String()) + `","kind":"keys"}`},
		{"tenant as urn", keys, `{"tenant":"urn:uuid:` + tid.String() + `","kind":"keys"}`},
		{"tenant a number", keys, `{"tenant":7,"kind":"keys"}`},
		{"no kind", keys, `{"tenant":"` + tid.String() + `","version":2}`},
		{"kind not the subject's", keys, `{"tenant":"` + tid.String() + `","kind":"users"}`},
		{"kind with a dot", "nines.changes.keys.x", `{"tenant":"` + tid.String() + `","kind":"keys.x"}`},
		{"negative version", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":-1}`},
		{"fractional version", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":1.5}`},
		{"exponent version", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":1e3}`},
		{"version too large", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":9223372036854775808}`},
		{"version a string", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":"two"}`},
		{"version a quoted number", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":"2"}`},
		{"version null", keys, `{"tenant":"` + tid.String() + `","kind":"keys","version":null}`},
		{"kind null", keys, `{"tenant":"` + tid.String() + `","kind":null}`},
		{"unclosed", keys, `{"tenant":"` + tid.String() + `","kind":"keys"`},
	}
	for _, b := range bad {
		if err := pc.Publish(b.subject, []byte(b.body)); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	// A valid change of a kind this process does not handle, and one with a member it
	// does not know.
	other := uuid.Must(uuid.NewV7())
	unknownKind := `{"tenant":"` + other.String() + `","kind":"groups","version":1}`
	extra := `{"tenant":"` + tid.String() + `","kind":"keys","version":3,"origin":{"region":"eu"}}`
	for _, m := range []struct{ subject, body string }{
		{Subject("", "groups"), unknownKind},
		{keys, extra},
		{keys, ok},
	} {
		if err := pc.Publish(m.subject, []byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := rec.next(t), (Change{Tenant: tid, Kind: Keys, Version: 3}); got != want {
		t.Fatalf("first change handled = %+v, want the one with an unknown member %+v", got, want)
	}
	if got, want := rec.next(t), (Change{Tenant: tid, Kind: Keys, Version: 2}); got != want {
		t.Fatalf("second change handled = %+v, want %+v", got, want)
	}
	rec.mu.Lock()
	n := len(rec.got)
	rec.mu.Unlock()
	want := SubscriberStats{Handled: 2, Malformed: uint64(len(bad) - 1), Oversized: 1, UnknownKind: 1, UnknownFields: 1}
	if st := sub.Stats(); st != want || n != 2 {
		t.Errorf("stats %+v and %d changes handled, want %+v and 2", st, n, want)
	}
}

// TestPublishFailureIsCountedNotFatal: an invalid change or a closed connection is a
// counted, logged failure.
func TestPublishFailureIsCountedNotFatal(t *testing.T) {
	pc, _ := connect(t)
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	pub, err := NewPublisher(PublisherConfig{Conn: pc, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), Change{Kind: Keys, Version: 1}); err == nil {
		t.Error("a change without a tenant was published")
	}
	if err := pub.Publish(t.Context(), Change{Tenant: uuid.Must(uuid.NewV7()), Kind: "Keys!"}); err == nil {
		t.Error("a change with an invalid kind was published")
	}
	pc.Close()
	err = pub.Publish(t.Context(), Change{Tenant: uuid.Must(uuid.NewV7()), Kind: Keys, Version: 1})
	if !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("publish on a closed connection = %v, want ErrConnectionClosed", err)
	}
	if st := pub.Stats(); st != (PublisherStats{Failed: 3}) {
		t.Errorf("stats %+v, want 3 failed", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if c := strings.Count(logs.String(), "change notification not published"); c != 3 {
		t.Errorf("%d failures logged, want 3:\n%s", c, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestSubscribeRefusesBadConfig(t *testing.T) {
	_, sc := connect(t)
	for name, cfg := range map[string]SubscriberConfig{
		"no conn":     {Handlers: map[Kind]Handler{Keys: func(Change) {}}},
		"no handlers": {Conn: sc},
		"nil handler": {Conn: sc, Handlers: map[Kind]Handler{Keys: nil}},
		"bad kind":    {Conn: sc, Handlers: map[Kind]Handler{"a.b": func(Change) {}}},
	} {
		if s, err := Subscribe(cfg); err == nil {
			_ = s.Close()
			t.Errorf("%s: Subscribe succeeded", name)
		}
	}
	if _, err := NewPublisher(PublisherConfig{}); err == nil {
		t.Error("NewPublisher without a connection succeeded")
	}
}

func TestCollector(t *testing.T) {
	pc, sc := connect(t)
	sub, rec := subscribe(t, sc, "", Keys)
	pub, err := NewPublisher(PublisherConfig{Conn: pc, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish(Subject("", Keys), []byte("{")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), Change{Tenant: uuid.Must(uuid.NewV7()), Kind: Keys, Version: 1}); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Collector{Publisher: pub, Subscriber: sub})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labelsOf(m)] = m.GetCounter().GetValue()
		}
	}
	for series, v := range map[string]float64{
		`nines_changes_published_total{outcome="published"}`: 1,
		`nines_changes_published_total{outcome="failed"}`:    0,
		`nines_changes_received_total{outcome="handled"}`:    1,
		`nines_changes_received_total{outcome="malformed"}`:  1,
		`nines_changes_unknown_fields_total`:                 0,
	} {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
}

func labelsOf(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// FuzzDecode: decode never panics, never accepts an oversized message, and what it
// accepts survives encode and decode unchanged.
func FuzzDecode(f *testing.F) {
	tid := uuid.MustParse("0190f1c2-7a3b-7c4d-8e5f-60718293a4b5")
	for _, s := range []string{
		`{"tenant":"` + tid.String() + `","kind":"keys","version":2}`,
		`{"tenant":"` + tid.String() + `","kind":"keys"}`,
		`{"tenant":"` + tid.String() + `","kind":"keys","x":[1,{"y":null}]}`,
		`{"kind":"keys","kind":"keys"}`, `[]`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := decode(data)
		if err != nil {
			return
		}
		if len(data) > MaxMessageBytes {
			t.Fatalf("accepted %d bytes", len(data))
		}
		body, err := encode(c)
		if err != nil {
			t.Fatalf("a decoded change does not encode: %+v: %v", c, err)
		}
		again, unknown, err := decode(body)
		if err != nil || again != c || unknown != 0 {
			t.Fatalf("round trip of %+v: %+v, %d unknown, %v", c, again, unknown, err)
		}
	})
}
