package bus

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/command"
)

// DefaultPrefix namespaces the stream and its subjects when Options.Prefix is empty (the
// same default as the KV buckets).
const DefaultPrefix = "nines"

// Defaults of the commands stream.
const (
	// DefaultStreamMaxBytes bounds the stream: with the worker or the primary down,
	// commands queue here first (about 150k sign-ins at ~400 bytes), then, when the
	// stream refuses more, in each login process's spool. It fits next to the KV
	// buckets (kv.TotalMaxBytes, 896 MiB) in the embedded server's 1 GiB store.
	DefaultStreamMaxBytes = 64 << 20
	// DuplicateWindow is how long the stream remembers a Nats-Msg-Id: a publisher's
	// retry (or a spool re-send) within it is dropped by the broker; after it, by the
	// worker's dedupe record.
	DuplicateWindow = 10 * time.Minute
	// streamMaxMsgSize leaves room for the headers above command.MaxSize.
	streamMaxMsgSize = command.MaxSize + 4<<10
)

// Options name and size the commands stream.
type Options struct {
	// Prefix namespaces the stream (<prefix>_commands) and its subjects (<prefix>.cmd.>);
	// default DefaultPrefix. [a-zA-Z0-9_-]+.
	Prefix string
	// Replicas of the stream: 1 on a single server, 3 on a cluster (default 1).
	Replicas int
	// MaxBytes bounds the stream (default DefaultStreamMaxBytes). JetStream reserves it.
	MaxBytes int64
}

var prefixRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func (o *Options) defaults() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(o.Prefix) {
		return fmt.Errorf("bus: prefix %q: must match [a-zA-Z0-9_-]+", o.Prefix)
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultStreamMaxBytes
	}
	return nil
}

// StreamName is the commands stream of prefix: "<prefix>_commands".
func StreamName(prefix string) string { return prefix + "_commands" }

// SubjectFilter matches every command subject of prefix: "<prefix>.cmd.>".
func SubjectFilter(prefix string) string { return prefix + ".cmd.>" }

// StreamConfig is the definition of the commands stream, shared by the publisher and
// the worker: a work queue (a message is gone once a consumer acknowledges it), file
// storage, a Nats-Msg-Id dedupe window of DuplicateWindow, bounded by MaxBytes with
// DiscardNew (a full stream refuses new commands, which then wait in the spools; it never
// drops queued ones), and no age limit (a queued command never expires).
func StreamConfig(o Options) (jetstream.StreamConfig, error) {
	if err := o.defaults(); err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:        StreamName(o.Prefix),
		Description: "nines asynchronous commands from the login tier (ARCHITECTURE.md §3)",
		Subjects:    []string{SubjectFilter(o.Prefix)},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxBytes:    o.MaxBytes,
		MaxMsgs:     -1,
		MaxAge:      0,
		Discard:     jetstream.DiscardNew,
		MaxMsgSize:  streamMaxMsgSize,
		Duplicates:  DuplicateWindow,
	}, nil
}

// EnsureStream creates the commands stream, or updates an existing one to StreamConfig.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Stream, error) {
	cfg, err := StreamConfig(o)
	if err != nil {
		return nil, err
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bus: ensure stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
