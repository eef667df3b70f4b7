package natsd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// records is a slog handler that keeps what it is given.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r } // the tests read messages only
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, rec.Level.String()+" "+rec.Message)
	return nil
}

func (r *records) contains(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// useJetStream checks that nc reaches a JetStream that stores a message.
func useJetStream(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	if _, err := js.Publish(t.Context(), "s", []byte("x")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	info, err := s.Info(t.Context())
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream info: %v msgs, %v; want 1", info.State.Msgs, err)
	}
}

func TestStartInProcess(t *testing.T) {
	logs := &records{}
	dir := t.TempDir()
	s, err := Start(t.Context(), Options{StoreDir: dir, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if u := s.ClientURL(); u != "" {
		t.Errorf("ClientURL = %q, want empty without a listener", u)
	}
	if s.ns.Addr() != nil || s.ns.ClusterAddr() != nil || s.ns.MonitorAddr() != nil || s.ns.ProfilerAddr() != nil {
		t.Errorf("an in-process server opened a port: client %v cluster %v monitor %v profiler %v",
			s.ns.Addr(), s.ns.ClusterAddr(), s.ns.MonitorAddr(), s.ns.ProfilerAddr())
	}
	cfg := s.ns.JetStreamConfig()
	if cfg == nil || !cfg.SyncAlways || cfg.StoreDir != filepath.Join(dir, "jetstream") {
		t.Errorf("JetStream config = %+v, want SyncAlways under %s", cfg, dir)
	}
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	useJetStream(t, nc)
	if !logs.contains("Starting nats-server") {
		t.Errorf("the server's log did not reach slog: %q", logs.lines)
	}
}

func TestStartListening(t *testing.T) {
	s, err := Start(t.Context(), Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(&records{})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	u := s.ClientURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") || strings.HasSuffix(u, ":4222") {
		t.Fatalf("ClientURL = %q, want nats://127.0.0.1:<picked port>", u)
	}
	nc, err := nats.Connect(u, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	useJetStream(t, nc)
}

func TestStartErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no store dir", Options{}, "StoreDir is required"},
		{"listen without port", Options{StoreDir: t.TempDir(), Listen: "127.0.0.1"}, "missing port"},
		{"listen port out of range", Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:70000"}, "bad port"},
		{"store dir is a file", Options{StoreDir: file}, "natsd:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Logger = slog.New(&records{})
			s, err := Start(t.Context(), tt.o)
			if err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
