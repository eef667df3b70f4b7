package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// casAttempts bounds the compare-and-swap loops of Create and Consume, which retry only
// when a concurrent writer changed the key between their read and their write.
const casAttempts = 3

// natsBucket is a Bucket on a JetStream KV bucket.
//
// Reads for a decision (Consume, and Create over a delete marker) go to the stream
// leader, never through the bucket's direct get: with replicas, a direct get may be
// answered by a follower that has not yet seen the latest write (libraries.md C4), and
// Consume must neither report a live key as absent nor lose its compare-and-swap to a
// stale revision. Get is a direct get whose "not found" is confirmed by the leader: a
// key written a moment ago is never reported absent; a value it returns may still be
// one revision old, which the compare-and-swap of a following Update rejects.
type natsBucket struct {
	kv           jetstream.KeyValue
	leader       *leaderReader
	maxValueSize int // 0: no bound of its own
}

func (b *natsBucket) Get(ctx context.Context, key string) (Entry, error) {
	if err := begin(ctx, key); err != nil {
		return Entry{}, err
	}
	e, err := b.kv.Get(ctx, key)
	if err == nil {
		return Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
	}
	if err = mapErr(err, ErrConflict); !errors.Is(err, ErrNotFound) {
		return Entry{}, err
	}
	// "Not found" from a direct get may come from a replica that has not applied the
	// write yet (seen on a three-node cluster: a code read back as unknown a moment after
	// it was created, ~1 read in 15 through one member). Absence decides things (an
	// unknown code, an expired request), so it is confirmed by the stream leader, which
	// has applied every acknowledged write; a present key is returned as read.
	last, lerr := b.leader.last(ctx, key)
	switch {
	case lerr != nil:
		return Entry{}, lerr // ErrNotFound, or the leader did not answer
	case !last.live:
		return Entry{}, ErrNotFound
	}
	return Entry{Key: key, Value: last.value, Revision: last.rev}, nil
}

// Create publishes with "no message on this key" as the expected last revision. If the
// key's last message is a delete marker (a consumed or deleted key), it retries with the
// marker's revision as expected, read from the leader.
func (b *natsBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if err := checkValue(value, b.maxValueSize); err != nil {
		return 0, err
	}
	var expect uint64
	for range casAttempts {
		rev, err := b.kv.Update(ctx, key, value, expect)
		if err == nil {
			return rev, nil
		}
		if !wrongLastSeq(err) {
			return 0, mapErr(err, ErrExists)
		}
		last, err := b.leader.last(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound): // expired since
			expect = 0
		case err != nil:
			return 0, err
		case last.live:
			return 0, ErrExists
		default:
			expect = last.rev
		}
	}
	return 0, ErrExists
}

func (b *natsBucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if err := checkValue(value, b.maxValueSize); err != nil {
		return 0, err
	}
	if rev == 0 {
		return 0, ErrInvalidRevision
	}
	n, err := b.kv.Update(ctx, key, value, rev)
	if err != nil {
		return 0, mapErr(err, ErrConflict)
	}
	return n, nil
}

func (b *natsBucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	if err := checkValue(value, b.maxValueSize); err != nil {
		return 0, err
	}
	n, err := b.kv.Put(ctx, key, value)
	if err != nil {
		return 0, mapErr(err, ErrConflict)
	}
	return n, nil
}

func (b *natsBucket) Delete(ctx context.Context, key string, rev uint64) error {
	if err := begin(ctx, key); err != nil {
		return err
	}
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	return mapErr(b.kv.Delete(ctx, key, opts...), ErrConflict)
}

// Consume reads the key's last message from the stream leader and deletes it with that
// revision as the expected last one. A failed compare-and-swap means another writer came
// first: if that was a consumer or a delete, the key is gone (ErrNotFound); if it was an
// Update or Put, the new value is consumed on the next attempt. After casAttempts lost
// races against writers the result is ErrConflict.
func (b *natsBucket) Consume(ctx context.Context, key string) (Entry, error) {
	if err := begin(ctx, key); err != nil {
		return Entry{}, err
	}
	for range casAttempts {
		last, err := b.leader.last(ctx, key)
		if err != nil {
			return Entry{}, err
		}
		if !last.live {
			return Entry{}, ErrNotFound
		}
		err = b.kv.Delete(ctx, key, jetstream.LastRevision(last.rev))
		if err == nil {
			return Entry{Key: key, Value: last.value, Revision: last.rev}, nil
		}
		if !wrongLastSeq(err) {
			return Entry{}, mapErr(err, ErrConflict)
		}
	}
	return Entry{}, ErrConflict
}

// mapErr maps a nats.go error onto the package's sentinels; conflict is what a
// wrong-last-sequence answer means for the operation. Anything that is not a statement
// about the key (timeouts, no responders, a closed connection, a server error) is
// ErrUnavailable wrapping the cause.
func mapErr(err error, conflict error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted),
		errors.Is(err, jetstream.ErrMsgNotFound):
		return ErrNotFound
	case wrongLastSeq(err):
		return conflict
	case errors.Is(err, jetstream.ErrInvalidKey):
		return ErrInvalidKey
	case isFull(err):
		return fmt.Errorf("%w: %w", ErrFull, err)
	case tooLarge(err):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return unavailable(err)
}

// JetStream API error codes of a store without room (nats-server's generated errors;
// nats.go does not export them): a stream at its MaxBytes or MaxMsgs with the discard-new
// policy of KV buckets answers 10077 "maximum bytes exceeded"; a server or account out
// of storage answers 10023 or 10047.
const (
	jsErrInsufficientResources    = 10023
	jsErrStorageResourcesExceeded = 10047
	jsErrStreamStoreFailed        = 10077
	storeFailedMaximumBytes       = "maximum bytes exceeded"
	storeFailedMaximumMessages    = "maximum messages exceeded"
)

// tooLarge reports an answer that says the message exceeds the stream's MaxMsgSize.
func tooLarge(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}

// isFull reports an answer that says the store has no room for the write.
func isFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jsErrInsufficientResources, jsErrStorageResourcesExceeded:
		return true
	case jsErrStreamStoreFailed:
		d := strings.ToLower(apiErr.Description)
		return strings.Contains(d, storeFailedMaximumBytes) || strings.Contains(d, storeFailedMaximumMessages)
	}
	return false
}

// wrongLastSeq reports a failed compare-and-swap: 10071 on a single replica, 10164 on
// replicated streams.
func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

var _ Bucket = (*natsBucket)(nil)
