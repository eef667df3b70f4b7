package spool

import (
	"bytes"
	"testing"
)

// BenchmarkAppend: one ~400-byte record per op, each fsync'd (the spool's write rate).
func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MaxRecords: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := bytes.Repeat([]byte("c"), 400)
	for b.Loop() {
		if err := s.Append(p, High); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendParallel: appends from 16 goroutines at once share fsyncs (group
// commit).
func BenchmarkAppendParallel(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MaxRecords: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := bytes.Repeat([]byte("c"), 400)
	b.SetParallelism(8) // × GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(p, High); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
