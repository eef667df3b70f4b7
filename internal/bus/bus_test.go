package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/spool"
)

func TestEnsureStream(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, _, s := connect(t, b)
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.Name != "nines_commands" || len(c.Subjects) != 1 || c.Subjects[0] != "nines.cmd.>" ||
		c.Retention != jetstream.WorkQueuePolicy || c.Storage != jetstream.FileStorage ||
		c.Discard != jetstream.DiscardNew || c.Duplicates != bus.DuplicateWindow ||
		c.MaxBytes != bus.DefaultStreamMaxBytes || c.MaxAge != 0 || c.Replicas != 1 {
		t.Fatalf("stream config = %+v", c)
	}
	// Idempotent: the worker and the app both call it.
	nc, err := b.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ensure(t, nc)
	if _, err := bus.StreamConfig(bus.Options{Prefix: "a.b"}); err == nil {
		t.Error("a prefix with a dot was accepted")
	}
}

func TestPublishAcknowledged(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, js, s := connect(t, b)
	p := newPublisher(t, js, t.TempDir(), nil)
	want := []command.Command{signedIn(t, 1), signedIn(t, 2)}
	for _, c := range want {
		if err := p.Publish(t.Context(), c); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	wantExactly(t, s, want)
	if st := p.Stats(); st.Published != 2 || st.Depth != 0 || st.Spooled != 0 || st.BrokerDown {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestPublishSameIDTwice(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, js, s := connect(t, b)
	p := newPublisher(t, js, t.TempDir(), nil)
	c := signedIn(t, 1)
	for range 2 {
		if err := p.Publish(t.Context(), c); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	wantExactly(t, s, []command.Command{c})
}

func TestPublishInvalid(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, js, s := connect(t, b)
	p := newPublisher(t, js, t.TempDir(), nil)
	c := signedIn(t, 1)
	c.Data = json.RawMessage(`{"user_id":"00000000-0000-0000-0000-000000000000","at":"2027-01-01T00:00:00Z"}`)
	if err := p.Publish(t.Context(), c); !errors.Is(err, command.ErrInvalid) {
		t.Fatalf("Publish(invalid) = %v, want ErrInvalid", err)
	}
	wantExactly(t, s, nil)
	if st := p.Stats(); st.Depth != 0 {
		t.Fatalf("an invalid command was spooled: %+v", st)
	}
}

// TestBrokerDown: with the broker gone, Publish spools and returns nil; the spool is on
// disk (a new process reads it); once the broker is back the spool is flushed in order
// and every command is in the stream exactly once.
func TestBrokerDown(t *testing.T) {
	b := startBroker(t, t.TempDir(), freeAddr(t))
	nc, err := nats.Connect(b.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, s := ensure(t, nc)
	spoolDir := t.TempDir()
	p := newPublisher(t, js, spoolDir, nil)
	p.Start(t.Context())

	cmds := []command.Command{signedIn(t, 0)}
	if err := p.Publish(t.Context(), cmds[0]); err != nil {
		t.Fatal(err)
	}
	b.stop()
	for i := 1; i <= 5; i++ {
		c := signedIn(t, i)
		if err := p.Publish(t.Context(), c); err != nil {
			t.Fatalf("Publish %d with the broker down: %v", i, err)
		}
		cmds = append(cmds, c)
	}
	st := p.Stats()
	if st.Depth != 5 || st.Spooled != 5 || st.Published != 1 || !st.BrokerDown || st.Oldest.IsZero() {
		t.Fatalf("Stats with the broker down = %+v", st)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), signedIn(t, 9)); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}

	// The spool, read back from disk by a new object: every command, in order.
	sp, err := spool.Open(spoolDir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := sp.Peek(100)
	sp.Close()
	if err != nil || len(recs) != 5 {
		t.Fatalf("spool on disk: %d records, %v; want 5", len(recs), err)
	}
	for i, r := range recs {
		c, err := command.Decode(r.Payload)
		if err != nil || c.ID != cmds[i+1].ID {
			t.Fatalf("spooled record %d = %v, %v; want %s", i, c, err, cmds[i+1])
		}
	}

	// A new process (publisher) on the same spool; the broker comes back.
	p2 := newPublisher(t, js, spoolDir, nil)
	p2.Start(t.Context())
	b.restart(t)
	waitFor(t, "the spool to drain", func() bool { return p2.Stats().Depth == 0 })
	wantExactly(t, s, cmds)
	if st := p2.Stats(); st.Flushed != 5 || st.BrokerDown || st.Dropped != 0 {
		t.Fatalf("Stats after the flush = %+v", st)
	}
	// Publishing goes direct again.
	c := signedIn(t, 6)
	if err := p2.Publish(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	wantExactly(t, s, append(cmds, c))
	if st := p2.Stats(); st.Published != 1 || st.Spooled != 0 {
		t.Fatalf("Stats after recovery = %+v", st)
	}
}

// TestCrashAfterAckBeforeRemove: the previous process's flusher had its PubAck for the
// first spooled command and died before removing it; the restart sends it again and the
// stream keeps one copy.
func TestCrashAfterAckBeforeRemove(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, js, s := connect(t, b)
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var cmds []command.Command
	for i := range 3 {
		c := signedIn(t, i)
		enc, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Append(enc, spool.High); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	sp.Close()
	first, _ := cmds[0].Encode()
	if _, err := js.Publish(t.Context(), cmds[0].Subject(bus.DefaultPrefix), first, jetstream.WithMsgID(cmds[0].ID)); err != nil {
		t.Fatal(err)
	}

	p := newPublisher(t, js, dir, nil)
	if st := p.Stats(); st.Depth != 3 {
		t.Fatalf("Depth = %d, want 3", st.Depth)
	}
	p.Start(t.Context())
	waitFor(t, "the spool to drain", func() bool { return p.Stats().Depth == 0 })
	wantExactly(t, s, cmds)
}

// TestFullSpool: with the broker down and the spool full, each type gets its policy.
func TestFullSpool(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, _, s := connect(t, b)
	// A closed connection: every publish fails at once, as with a broker that is gone.
	down, err := b.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	downJS, err := jetstream.New(down)
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, downJS, t.TempDir(), func(c *bus.Config) {
		c.Spool = spool.Options{MaxRecords: 6, ReserveRecords: 2}
	})
	ctx := t.Context()
	now := time.Unix(1_800_000_000, 0)
	mk := map[string]func() (command.Command, error){
		command.TypeSignedIn: func() (command.Command, error) { return command.NewSignedIn(tenantA, userA, now) },
		command.TypePasswordRehashed: func() (command.Command, error) {
			return command.NewPasswordRehashed(tenantA, userA, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", now)
		},
		command.TypeSignInFailed: func() (command.Command, error) {
			return command.NewSignInFailed(tenantA, userA, "0123456789abcdef0123456789abcdef", "invalid_credentials", now)
		},
		command.TypeAuditEvent: func() (command.Command, error) {
			return command.NewAuditEvent(tenantA, now, command.AuditEvent{Type: "consent.granted", Actor: "user:" + userA.String()})
		},
	}
	publish := func(typ string) error {
		t.Helper()
		c, err := mk[typ]()
		if err != nil {
			t.Fatal(err)
		}
		return p.Publish(ctx, c)
	}
	// Best-effort commands fill the spool up to its reserve, then are dropped.
	for i := range 4 {
		if err := publish(command.TypeSignedIn); err != nil {
			t.Fatalf("signed_in %d: %v", i, err)
		}
	}
	if err := publish(command.TypeSignedIn); err != nil {
		t.Fatalf("signed_in into the reserve: %v, want nil (dropped)", err)
	}
	if st := p.Stats(); st.Depth != 4 || st.Dropped != 1 {
		t.Fatalf("after filling up to the reserve: %+v", st)
	}
	// The reserve takes the commands that fail the request...
	if err := publish(command.TypeAuditEvent); err != nil {
		t.Fatal(err)
	}
	if err := publish(command.TypeSignInFailed); err != nil {
		t.Fatal(err)
	}
	// ...and then the spool is full for every type.
	tests := []struct {
		typ     string
		refused bool
	}{
		{command.TypeSignedIn, false},
		{command.TypePasswordRehashed, false},
		{command.TypeSignInFailed, true},
		{command.TypeAuditEvent, true},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			before := p.Stats()
			err := publish(tt.typ)
			after := p.Stats()
			if tt.refused {
				if !errors.Is(err, bus.ErrSpoolFull) || after.Refused != before.Refused+1 {
					t.Fatalf("Publish = %v (refused %d → %d), want ErrSpoolFull", err, before.Refused, after.Refused)
				}
				if bus.PolicyFor(tt.typ) != bus.Fail {
					t.Fatalf("PolicyFor = %s", bus.PolicyFor(tt.typ))
				}
				return
			}
			if err != nil || after.Dropped != before.Dropped+1 {
				t.Fatalf("Publish = %v (dropped %d → %d), want nil and a drop", err, before.Dropped, after.Dropped)
			}
			if bus.PolicyFor(tt.typ) != bus.Drop {
				t.Fatalf("PolicyFor = %s", bus.PolicyFor(tt.typ))
			}
		})
	}
	if bus.PolicyFor("some.new_type") != bus.Fail {
		t.Error("an unknown type is not Fail")
	}
	if st := p.Stats(); st.Depth != 6 {
		t.Fatalf("Depth = %d, want 6", st.Depth)
	}
	wantExactly(t, s, nil)
}

func TestRecorder(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, js, s := connect(t, b)
	p := newPublisher(t, js, t.TempDir(), nil)
	at := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	r := bus.Recorder{Publisher: p, Now: func() time.Time { return at }}
	const hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	ctx := context.Background()
	if err := r.SignedIn(ctx, tenantA, userA, at); err != nil {
		t.Fatal(err)
	}
	if err := r.PasswordRehashed(ctx, tenantA, userA, hash); err != nil {
		t.Fatal(err)
	}
	got := messages(t, s)
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	p0, err := got[0].cmd.Payload()
	if err != nil {
		t.Fatal(err)
	}
	if si, ok := p0.(command.SignedIn); !ok || si.UserID != userA || !si.At.Equal(at) || got[0].cmd.TenantID != tenantA {
		t.Errorf("first command = %s %#v, want user.signed_in of %s at %s", got[0].cmd, p0, userA, at)
	}
	p1, err := got[1].cmd.Payload()
	if err != nil {
		t.Fatal(err)
	}
	if ph, ok := p1.(command.PasswordRehashed); !ok || ph.UserID != userA || ph.Hash != hash || !got[1].cmd.At.Equal(at) {
		t.Errorf("second command = %s, want user.password_rehashed of %s", got[1].cmd, userA)
	}
	if got[1].subject != "nines.cmd.user.password_rehashed" {
		t.Errorf("subject = %s", got[1].subject)
	}
}

// TestRecorderSignInFailed: a failed attempt becomes user.sign_in_failed with a digest
// of its source keyed from the KEK: the same source gives the same digest in every
// process of a deployment, another KEK another digest, and the address itself appears
// nowhere in the command.
func TestRecorderSignInFailed(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	_, js, s := connect(t, b)
	p := newPublisher(t, js, t.TempDir(), nil)
	kek := bytes.Repeat([]byte{7}, 32)
	key, err := bus.SourceKeyFromKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	other, err := bus.SourceKeyFromKEK(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []bus.Recorder{{Publisher: p, SourceKey: key}, {Publisher: p, SourceKey: key}, {Publisher: p, SourceKey: other}} {
		if err := r.SignInFailed(ctx, tenantA, userA, "203.0.113.7", "invalid_credentials"); err != nil {
			t.Fatal(err)
		}
	}
	got := messages(t, s)
	if len(got) != 3 {
		t.Fatalf("%d messages, want 3", len(got))
	}
	var digests []string
	for _, m := range got {
		raw, err := m.cmd.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "203.0.113.7") {
			t.Fatalf("the client address is in the command: %s", raw)
		}
		pl, err := m.cmd.Payload()
		if err != nil {
			t.Fatal(err)
		}
		f, ok := pl.(command.SignInFailed)
		if !ok || f.UserID != userA || f.Reason != "invalid_credentials" || m.subject != "nines.cmd.user.sign_in_failed" {
			t.Fatalf("command = %s %#v on %s", m.cmd, pl, m.subject)
		}
		digests = append(digests, f.SourceDigest)
	}
	if digests[0] != digests[1] || digests[0] == digests[2] || len(digests[0]) != 32 {
		t.Fatalf("digests %q: want two equal (same key) and a third different, 32 hex digits", digests)
	}
}

// TestStreamFull: a stream at its MaxBytes (the worker has been down long) refuses new
// commands; they wait in the spool, nothing is dropped from the stream, and they are
// flushed in order once the worker has made room.
func TestStreamFull(t *testing.T) {
	b := startBroker(t, t.TempDir(), "")
	nc, err := b.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bus.EnsureStream(t.Context(), js, bus.Options{MaxBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, js, t.TempDir(), nil)
	var cmds []command.Command
	for i := 0; i < 50 && p.Stats().Depth == 0; i++ {
		c := signedIn(t, i)
		if err := p.Publish(t.Context(), c); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		cmds = append(cmds, c)
	}
	st := p.Stats()
	if st.Depth != 1 || !st.BrokerDown || !strings.Contains(st.LastError, "maximum bytes") {
		t.Fatalf("Stats after filling the stream = %+v", st)
	}
	for i := range 3 {
		c := signedIn(t, 100+i)
		if err := p.Publish(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	stored := messages(t, s)
	if len(stored)+p.Stats().Depth != len(cmds) {
		t.Fatalf("stream %d + spool %d != %d published", len(stored), p.Stats().Depth, len(cmds))
	}
	// The worker drains the stream (here: a consumer takes and acknowledges everything).
	cons, err := s.CreateOrUpdateConsumer(t.Context(), jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	p.Start(t.Context())
	for i := 0; i < 100 && len(got) < len(cmds); i++ {
		batch, err := cons.Fetch(len(cmds), jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			got = append(got, m.Headers().Get(jetstream.MsgIDHeader))
			if err := m.DoubleAck(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(got) != len(cmds) {
		t.Fatalf("consumed %d commands, want %d", len(got), len(cmds))
	}
	for i, c := range cmds {
		if got[i] != c.ID {
			t.Fatalf("command %d consumed = %s, want %s (in order)", i, got[i], c.ID)
		}
	}
	waitFor(t, "the spool to drain", func() bool { return p.Stats().Depth == 0 })
}

// TestConcurrentOutage: publishers keep going while the broker stops and comes back;
// every command reaches the stream exactly once, and each publisher's commands keep the
// order it issued them in.
func TestConcurrentOutage(t *testing.T) {
	b := startBroker(t, t.TempDir(), freeAddr(t))
	nc, err := nats.Connect(b.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, s := ensure(t, nc)
	p := newPublisher(t, js, t.TempDir(), func(c *bus.Config) { c.AckTimeout = 300 * time.Millisecond })
	p.Start(t.Context())

	// Each worker publishes a quarter with the broker up, a quarter with it down, and
	// the rest while it comes back and after.
	const workers, each = 4, 40
	issued := make([][]command.Command, workers)
	errs := make(chan error, workers)
	var phase [2]sync.WaitGroup // workers done with phase i
	phase[0].Add(workers)
	phase[1].Add(workers)
	next := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	for w := range workers {
		go func() {
			for i := range each {
				if i == each/4 || i == each/2 {
					k := i / (each / 2) // 0, then 1
					phase[k].Done()
					<-next[k]
				}
				c := signedIn(t, w*1000+i)
				if err := p.Publish(context.Background(), c); err != nil {
					errs <- fmt.Errorf("worker %d command %d: %w", w, i, err)
					return
				}
				issued[w] = append(issued[w], c)
			}
			errs <- nil
		}()
	}
	phase[0].Wait()
	b.stop()
	close(next[0])
	phase[1].Wait()
	b.restart(t)
	close(next[1])
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Published < workers*each/4 || st.Spooled < workers*each/4 {
		t.Fatalf("the outage did not happen as planned: %+v", st)
	}
	waitFor(t, "the spool to drain", func() bool { return p.Stats().Depth == 0 })

	got := messages(t, s)
	if len(got) != workers*each {
		t.Fatalf("stream holds %d commands, want %d (stats %+v)", len(got), workers*each, p.Stats())
	}
	pos := map[string]int{}
	for i, m := range got {
		if _, dup := pos[m.msgID]; dup {
			t.Fatalf("command %s twice in the stream", m.msgID)
		}
		pos[m.msgID] = i
	}
	for w, cs := range issued {
		for i := 1; i < len(cs); i++ {
			if pos[cs[i-1].ID] > pos[cs[i].ID] {
				t.Fatalf("worker %d: command %d before %d in the stream", w, i, i-1)
			}
		}
	}
	t.Logf("stats: %+v", p.Stats())
}

func TestPermanentErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"message too large", fmt.Errorf("nats: %w", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamMessageExceedsMaximum}), true},
		{"header too large", &jetstream.APIError{Code: 400, ErrorCode: 10097}, true},
		{"max payload", nats.ErrMaxPayload, true},
		{"stream full", fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: 10077}), false},
		{"wrong stream", &jetstream.APIError{Code: 400, ErrorCode: 10060}, false},
		{"no responders", jetstream.ErrNoStreamResponse, false},
		{"timeout", context.DeadlineExceeded, false},
		{"closed", nats.ErrConnectionClosed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bus.Permanent(tt.err); got != tt.want {
				t.Fatalf("permanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
