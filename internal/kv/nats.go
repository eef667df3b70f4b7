package kv

import (
	"context"
	"fmt"
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
}

var bucketNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Open creates the login tier's buckets on JetStream, or updates their configuration
// when they exist, and returns them.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (Buckets, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	var b Buckets
	for _, spec := range []struct {
		dst    *Bucket
		suffix string
		ttl    time.Duration
	}{
		{&b.AuthRequests, AuthRequestsSuffix, AuthRequestTTL},
		{&b.Codes, CodesSuffix, CodeTTL},
		{&b.Sessions, SessionsSuffix, SessionTTL},
		{&b.DeviceCodes, DeviceCodesSuffix, DeviceCodeTTL},
		{&b.Throttle, ThrottleSuffix, ThrottleTTL},
		{&b.Refresh, RefreshSuffix, RefreshTTL},
	} {
		bk, err := OpenBucket(ctx, js, BucketConfig{Name: o.Prefix + "_" + spec.suffix, TTL: spec.ttl, Replicas: o.Replicas})
		if err != nil {
			return Buckets{}, err
		}
		*spec.dst = bk
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
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   c.Name,
		History:  1,
		TTL:      c.TTL,
		Storage:  jetstream.FileStorage,
		Replicas: c.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("kv: open bucket %s: %w", c.Name, mapErr(err, ErrUnavailable))
	}
	return &natsBucket{
		kv:     kv,
		leader: newLeaderReader(js, c.Name),
	}, nil
}
