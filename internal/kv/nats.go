package kv

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPrefix is the namespace of the buckets when Options.Prefix is empty.
const DefaultPrefix = "nines"

// Bucket name suffixes: bucket "<prefix>_<suffix>", stream "KV_<prefix>_<suffix>".
const (
	AuthRequestsSuffix = "authreq"
	CodesSuffix        = "codes"
	SessionsSuffix     = "sessions"
	DeviceCodesSuffix  = "devicecodes"
	ThrottleSuffix     = "throttle"
	RefreshSuffix      = "refresh"
	ReplaySuffix       = "replay"
)

// Options configure Open.
type Options struct {
	// Prefix namespaces the buckets (ARCHITECTURE.md §4); default DefaultPrefix.
	Prefix string
	// Replicas of each bucket's stream: 1 on a single server, 3 on a cluster (default 1).
	Replicas int
}

// BucketConfig is one NATS bucket.
type BucketConfig struct {
	Name     string        // [a-zA-Z0-9_-]+
	TTL      time.Duration // entries expire this long after their last write; 0 = never
	Replicas int           // default 1
	// MaxBytes is the bucket's size: beyond it new keys are ErrFull (0: no size of its
	// own, only the server's store). JetStream reserves it on the server.
	MaxBytes int64
	// MaxValueSize bounds each value: a longer one is ErrTooLarge (0: no bound but the
	// server's payload limit).
	MaxValueSize int
}

// headerAllowance is what the server's per-message bound adds to MaxValueSize for the
// headers of a KV write (the compare-and-swap revision, a delete marker), so that the
// client's check on the value alone is the one that decides.
const headerAllowance = 1 << 10

var bucketNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Open creates the login tier's buckets on JetStream, or updates their configuration
// when they exist, and returns them. Each gets its size (the *MaxBytes constants,
// TotalMaxBytes in all) and its value bound (DefaultMaxValueSize; ReplayMaxValueSize
// for Replay).
func Open(ctx context.Context, js jetstream.JetStream, o Options) (Buckets, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	var b Buckets
	for _, s := range specs {
		bk, err := OpenBucket(ctx, js, BucketConfig{Name: o.Prefix + "_" + s.suffix, TTL: s.ttl, Replicas: o.Replicas,
			MaxBytes: s.maxBytes, MaxValueSize: s.maxValueSize})
		if err != nil {
			return Buckets{}, err
		}
		*s.dst(&b) = bk
	}
	return b, nil
}

// OpenBucket creates or updates one bucket: file storage, history 1 (a write replaces
// the previous value, so the TTL counts from the last write), c.TTL as the stream's
// MaxAge.
func OpenBucket(ctx context.Context, js jetstream.JetStream, c BucketConfig) (Bucket, error) {
	if !bucketNameRE.MatchString(c.Name) {
		return nil, fmt.Errorf("kv: bucket name %q: must match [a-zA-Z0-9_-]+", c.Name)
	}
	if c.TTL < 0 {
		return nil, fmt.Errorf("kv: bucket %s: negative TTL", c.Name)
	}
	if c.MaxBytes < 0 || c.MaxValueSize < 0 || c.MaxValueSize > math.MaxInt32-headerAllowance {
		return nil, fmt.Errorf("kv: bucket %s: invalid size limits", c.Name)
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	kc := jetstream.KeyValueConfig{
		Bucket:   c.Name,
		History:  1,
		TTL:      c.TTL,
		Storage:  jetstream.FileStorage,
		Replicas: c.Replicas,
		MaxBytes: c.MaxBytes,
	}
	if c.MaxBytes == 0 {
		kc.MaxBytes = -1 // unlimited; 0 would be too, but say so
	}
	if c.MaxValueSize > 0 {
		kc.MaxValueSize = int32(c.MaxValueSize + headerAllowance)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, kc)
	if err != nil {
		return nil, fmt.Errorf("kv: open bucket %s: %w", c.Name, mapErr(err, ErrUnavailable))
	}
	return &natsBucket{
		kv:           kv,
		leader:       newLeaderReader(js, c.Name),
		maxValueSize: c.MaxValueSize,
	}, nil
}
