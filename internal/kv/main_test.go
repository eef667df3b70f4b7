package kv_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/natsd"
)

// The package's tests share one embedded server, started in a temporary directory.
var (
	testServer *natsd.Server
	testConn   *nats.Conn
	testJS     jetstream.JetStream
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse() // for testing.Verbose
	dir, err := os.MkdirTemp("", "nines-kv-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testServer, err = natsd.Start(ctx, natsd.Options{StoreDir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testConn, err = testServer.Connect()
	if err == nil {
		testJS, err = jetstream.New(testConn)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		testServer.Shutdown()
		return 1
	}
	// An anchor bucket that is never deleted: nats-server removes an account's empty
	// streams directory in a goroutine after its last stream is deleted, racing with the
	// next stream's creation ("could not create storage directory", v2.15.2
	// stream.go:8926). Tests delete their buckets, so the directory must never empty.
	if _, err := kv.OpenBucket(ctx, testJS, kv.BucketConfig{Name: "anchor"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		testConn.Close()
		testServer.Shutdown()
		return 1
	}
	code := m.Run()
	testConn.Close()
	testServer.Shutdown()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			return 1
		}
	}
	return code
}

// quietLogger drops the server's informational lines; warnings still show.
func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
