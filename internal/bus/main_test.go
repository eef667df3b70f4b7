package bus_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/natsd"
)

func TestMain(m *testing.M) {
	flag.Parse()
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// broker is an embedded server in a test's temporary directory.
type broker struct {
	dir, listen string
	srv         *natsd.Server
}

// startBroker starts a server on dir; listen "" is in-process only.
func startBroker(t testing.TB, dir, listen string) *broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := natsd.Start(ctx, natsd.Options{StoreDir: dir, Listen: listen, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("natsd.Start: %v", err)
	}
	b := &broker{dir: dir, listen: listen, srv: srv}
	t.Cleanup(b.stop)
	return b
}

func (b *broker) stop() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv = nil
	}
}

// restart starts the server again on the same store directory and address.
func (b *broker) restart(t testing.TB) {
	t.Helper()
	b.stop()
	nb := startBroker(t, b.dir, b.listen)
	b.srv = nb.srv
	nb.srv = nil
}

// freeAddr is a loopback address with a port free now, for a server that must come back
// on the same port.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// connect opens an in-process connection with JetStream and the commands stream.
func connect(t testing.TB, b *broker) (*nats.Conn, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := b.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, s := ensure(t, nc)
	return nc, js, s
}

func ensure(t testing.TB, nc *nats.Conn) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := bus.EnsureStream(ctx, js, bus.Options{})
	if err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	return js, s
}

func newPublisher(t testing.TB, js jetstream.JetStream, dir string, mod func(*bus.Config)) *bus.Publisher {
	t.Helper()
	cfg := bus.Config{JS: js, SpoolDir: dir, AckTimeout: 500 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, Logger: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := bus.NewPublisher(cfg)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var (
	tenantA = uuid.MustParse("01900000-0000-7000-8000-00000000000a")
	userA   = uuid.MustParse("01900000-0000-7000-8000-0000000000a1")
)

func signedIn(t testing.TB, i int) command.Command {
	t.Helper()
	c, err := command.NewSignedIn(tenantA, userA, time.Unix(1_800_000_000+int64(i), 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// streamMsg is one message read back from the stream.
type streamMsg struct {
	subject, msgID string
	cmd            command.Command
}

// messages reads every message in the stream, in stream order.
func messages(t testing.TB, s jetstream.Stream) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []streamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("GetMsg %d: %v", seq, err)
		}
		c, err := command.Decode(m.Data)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, streamMsg{subject: m.Subject, msgID: m.Header.Get(jetstream.MsgIDHeader), cmd: c})
	}
	if uint64(len(out)) != info.State.Msgs {
		t.Fatalf("read %d messages, the stream holds %d", len(out), info.State.Msgs)
	}
	return out
}

// wantExactly checks that the stream holds want, each once, in order, with its ID as
// Nats-Msg-Id on its subject.
func wantExactly(t testing.TB, s jetstream.Stream, want []command.Command) {
	t.Helper()
	got := messages(t, s)
	if len(got) != len(want) {
		ids := make([]string, len(got))
		for i, m := range got {
			ids[i] = m.msgID
		}
		t.Fatalf("stream holds %d messages %v, want %d", len(got), ids, len(want))
	}
	for i, m := range got {
		w := want[i]
		if m.msgID != w.ID || m.cmd.ID != w.ID || m.subject != w.Subject(bus.DefaultPrefix) {
			t.Errorf("message %d = %s (Nats-Msg-Id %s, subject %s), want %s on %s", i, m.cmd, m.msgID, m.subject, w, w.Subject(bus.DefaultPrefix))
		}
	}
}

// waitFor polls cond every 10 ms for at most 30 s: a bound on the test, not a timing claim.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting: %s", what)
}
