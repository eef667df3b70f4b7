package readonly

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/kv"
)

// Sizes of the control bucket: it holds one small key.
const (
	controlMaxBytes     = 1 << 20
	controlMaxValueSize = 4 << 10
)

// OpenControl opens (creating it if needed) the control bucket <prefix>_control that
// holds the explicit switch for every process of the deployment. It has no TTL: the
// switch holds until an operator turns it off. prefix "" is kv.DefaultPrefix.
func OpenControl(ctx context.Context, js jetstream.JetStream, prefix string, replicas int) (kv.Bucket, error) {
	if prefix == "" {
		prefix = kv.DefaultPrefix
	}
	return kv.OpenBucket(ctx, js, kv.BucketConfig{Name: prefix + "_" + ControlSuffix, Replicas: replicas,
		MaxBytes: controlMaxBytes, MaxValueSize: controlMaxValueSize})
}
