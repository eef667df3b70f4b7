package kv

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestAPIPrefix(t *testing.T) {
	tests := []struct {
		name string
		o    jetstream.JetStreamOptions
		want string
	}{
		{"default", jetstream.JetStreamOptions{}, "$JS.API."},
		{"domain", jetstream.JetStreamOptions{Domain: "hub"}, "$JS.hub.API."},
		{"prefix without dot", jetstream.JetStreamOptions{APIPrefix: "acc.JS"}, "acc.JS."},
		{"prefix with dot", jetstream.JetStreamOptions{APIPrefix: "acc.JS."}, "acc.JS."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apiPrefix(tt.o); got != tt.want {
				t.Fatalf("apiPrefix = %q, want %q", got, tt.want)
			}
		})
	}
}
