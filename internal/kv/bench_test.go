package kv_test

import (
	"bytes"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/kv"
)

// sessionValue is about the size of an encoded SSO session.
var sessionValue = bytes.Repeat([]byte("s"), 300)

// benchBuckets are the implementations the benchmarks compare.
func benchBuckets(b *testing.B) []struct {
	name string
	new  func(b *testing.B) kv.Bucket
} {
	return []struct {
		name string
		new  func(b *testing.B) kv.Bucket
	}{
		{"memory", func(*testing.B) kv.Bucket { return kv.NewMemory(time.Hour, nil) }},
		{"nats", func(b *testing.B) kv.Bucket {
			name := fmt.Sprintf("bench_%d", bucketSeq.Add(1))
			bk, err := kv.OpenBucket(b.Context(), testJS, kv.BucketConfig{Name: name, TTL: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = testJS.DeleteKeyValue(b.Context(), name) })
			return bk
		}},
		{"nats-r3", func(b *testing.B) kv.Bucket {
			js := startCluster(b)
			bk, err := kv.OpenBucket(b.Context(), js, kv.BucketConfig{Name: "bench", TTL: time.Hour, Replicas: 3})
			if err != nil {
				b.Fatal(err)
			}
			return bk
		}},
	}
}

func BenchmarkCreate(b *testing.B) {
	for _, impl := range benchBuckets(b) {
		b.Run(impl.name, func(b *testing.B) {
			bk := impl.new(b)
			ctx := b.Context()
			for i := 0; i < b.N; i++ {
				if _, err := bk.Create(ctx, "k"+strconv.Itoa(i), sessionValue); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		b.Run(impl.name+"/parallel", func(b *testing.B) {
			bk := impl.new(b)
			ctx := b.Context()
			var n atomic.Int64
			b.SetParallelism(8) // concurrent logins: 8 goroutines per CPU
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bk.Create(ctx, "k"+strconv.FormatInt(n.Add(1), 10), sessionValue); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

func BenchmarkConsume(b *testing.B) {
	for _, impl := range benchBuckets(b) {
		b.Run(impl.name, func(b *testing.B) {
			bk := impl.new(b)
			ctx := b.Context()
			for i := 0; i < b.N; i++ {
				if _, err := bk.Create(ctx, "k"+strconv.Itoa(i), sessionValue); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := bk.Consume(ctx, "k"+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkSessionStorage reports what one ~300-byte session takes in the JetStream file
// store: the stream's bytes per message (subject, headers, value and record overhead).
func BenchmarkSessionStorage(b *testing.B) {
	const sessions = 1000
	name := fmt.Sprintf("bench_%d", bucketSeq.Add(1))
	bk, err := kv.OpenBucket(b.Context(), testJS, kv.BucketConfig{Name: name, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = testJS.DeleteKeyValue(b.Context(), name) })
	for i := range sessions {
		// A realistic key: tenant and session-ID digest.
		key := fmt.Sprintf("t.0190b7e4-5b7c-7d3e-9a1b-%012d.s.q83vEjRWeJA7Jd1LfL2xXHzB4kq9Uc0pN2m5R8tYwZo", i)
		if _, err := bk.Put(b.Context(), key, sessionValue); err != nil {
			b.Fatal(err)
		}
	}
	s, err := testJS.Stream(b.Context(), "KV_"+name)
	if err != nil {
		b.Fatal(err)
	}
	info, err := s.Info(b.Context(), jetstream.WithSubjectFilter(""))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// Nothing to time: the result is the metric.
	}
	b.ReportMetric(float64(info.State.Bytes)/float64(info.State.Msgs), "stored-bytes/session")
	b.ReportMetric(float64(len(sessionValue)), "value-bytes/session")
}
