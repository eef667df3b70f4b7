package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/kv"
)

// Bounds of setting up the buckets and the command stream on a cluster.
const (
	natsAttemptTimeout = 3 * time.Second        // one attempt
	natsAttemptPause   = 250 * time.Millisecond // between attempts
	natsSetupTimeout   = 60 * time.Second       // every attempt at creating the command stream
)

// retryNATS runs op with natsAttemptTimeout per attempt until it succeeds, fails with
// an error that is not "no answer", or ctx ends.
//
// Two cases leave a request without an answer although the cluster will act on it,
// both seen with three `serve --role=nats` members (nats-server 2.15.2):
//   - a cluster whose members were just started has no meta leader for a moment and
//     drops the API requests sent then;
//   - when two clients create the same R3 bucket or stream at the same moment (a
//     worker and a login process started together), the stream is created but
//     neither request is ever answered (reproduced in process: both wait out any
//     deadline).
//
// One attempt with the whole deadline failed the start of such processes (they
// exited after 30s). Short attempts succeed once the cluster answers: creating a
// bucket or a stream that exists with the same configuration returns at once, so the
// retry after a lost answer finds the work done.
func retryNATS(ctx context.Context, what string, logger *slog.Logger, op func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, natsAttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !noAnswer(err) || ctx.Err() != nil {
			return err
		}
		logger.Warn("nats: no answer yet; retrying", "what", what, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(natsAttemptPause):
		}
	}
}

// noAnswer reports an error that says the cluster did not answer (in time), rather than
// that it refused: a bucket with another configuration, a bad replica count.
func noAnswer(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kv.ErrUnavailable) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// openBuckets opens the login tier's buckets, retrying within ctx (retryNATS).
func openBuckets(ctx context.Context, js jetstream.JetStream, replicas int, logger *slog.Logger) (kv.Buckets, error) {
	var b kv.Buckets
	err := retryNATS(ctx, "kv buckets", logger, func(ctx context.Context) (err error) {
		b, err = kv.Open(ctx, js, kv.Options{Replicas: replicas})
		return err
	})
	return b, err
}

// ensureCommandStream creates or checks the command stream, retrying within
// natsSetupTimeout (retryNATS).
func ensureCommandStream(ctx context.Context, nrt *natsRuntime, logger *slog.Logger) error {
	sctx, cancel := context.WithTimeout(ctx, natsSetupTimeout)
	defer cancel()
	err := retryNATS(sctx, "command stream", logger, func(ctx context.Context) error {
		_, err := bus.EnsureStream(ctx, nrt.js, bus.Options{Replicas: nrt.replicas})
		return err
	})
	if err != nil {
		return fmt.Errorf("command stream: %w", err)
	}
	return nil
}
