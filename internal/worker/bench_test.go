package worker

import (
	"testing"
	"time"

	"github.com/ninesid/nines/internal/command"
)

// BenchmarkApplySignIns measures commands applied per second through the worker on
// SQLite: b.N user.signed_in commands are queued first (untimed), then one worker
// drains them (timed). Each is a transaction: record the key, move last_login_at,
// insert the event, commit; then a DoubleAck.
//
//	go test ./internal/worker/ -run '^$' -bench ApplySignIns -benchtime 2000x
func BenchmarkApplySignIns(b *testing.B) {
	e := newEnv(b)
	for i := range b.N {
		c, err := command.NewSignedIn(e.tn.ID, e.u.ID, t0.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		e.publish(c, "")
	}
	cfg := e.config(nil)
	cfg.AckWait = time.Minute
	w := New(cfg)
	b.ResetTimer()
	start := time.Now()
	stop := e.start(w)
	e.waitFor("every command applied", func() bool { return w.Stats().Applied == uint64(b.N) })
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commands/s")
}
