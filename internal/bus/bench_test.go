package bus_test

import (
	"context"
	"testing"

	"github.com/ninesid/nines/internal/spool"
)

// BenchmarkPublish: one user.signed_in per op, published and acknowledged (PubAck) by an
// embedded server that fsyncs every write (SyncAlways), one publisher at a time.
func BenchmarkPublish(b *testing.B) {
	br := startBroker(b, b.TempDir(), "")
	_, js, _ := connect(b, br)
	p := newPublisher(b, js, b.TempDir(), nil)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := p.Publish(ctx, signedIn(b, i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if st := p.Stats(); st.Spooled != 0 {
		b.Fatalf("%d commands went to the spool", st.Spooled)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkFlush: b.N spooled commands flushed to the broker in order, each with its
// PubAck (the spool's drain rate once the broker is back).
func BenchmarkFlush(b *testing.B) {
	br := startBroker(b, b.TempDir(), "")
	_, js, _ := connect(b, br)
	dir := b.TempDir()
	sp, err := spool.Open(dir, spool.Options{MaxRecords: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		enc, err := signedIn(b, i).Encode()
		if err != nil {
			b.Fatal(err)
		}
		if err := sp.Append(enc, spool.High); err != nil {
			b.Fatal(err)
		}
	}
	sp.Close()
	p := newPublisher(b, js, dir, nil)
	b.ResetTimer()
	p.Start(context.Background())
	waitFor(b, "the spool to drain", func() bool { return p.Stats().Depth == 0 })
	b.StopTimer()
	if st := p.Stats(); st.Flushed != uint64(b.N) {
		b.Fatalf("flushed %d of %d", st.Flushed, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}
