package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxStoreWait caps the pause between two attempts on a held command: however long the
// store has been down, the worker notices its return within this long.
const MaxStoreWait = 5 * time.Second

// attemptTimeout bounds one attempt to apply a command. Half the AckWait: an attempt
// that hangs ends (as an infrastructure failure) before the broker would redeliver the
// message, and the held mode extends the AckWait from then on.
func (w *Worker) attemptTimeout() time.Duration { return w.ackWait / 2 }

// keepAliveEvery is how often the AckWait of held messages is extended.
func (w *Worker) keepAliveEvery() time.Duration { return max(w.ackWait/3, time.Millisecond) }

// storeWait is the pause after the n-th attempt (n ≥ 1) that found the store down.
func (w *Worker) storeWait(n int) time.Duration { return min(w.backoffFor(n), MaxStoreWait) }

// hold is the open circuit: the store was unavailable for held[0], and held[1:] were
// pulled behind it. Nothing more is pulled. Each message, in order, is retried in place
// until it settles (the store answered, or the command failed for its own sake), while
// every held message's AckWait is extended (InProgress) so that the broker neither
// redelivers it nor counts a delivery, however long the outage. When ctx ends the
// messages not settled are handed back unacknowledged (Nak) for the next worker.
func (w *Worker) hold(ctx context.Context, held []jetstream.Msg) {
	if len(held) == 0 {
		return
	}
	kctx, stopKeep := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.keepAlive(kctx, held) })
	defer wg.Wait()
	defer stopKeep()
	w.log.WarnContext(ctx, "worker: circuit open; not pulling until the store answers", "held", len(held))
	for i, msg := range held {
		if !w.settleInPlace(ctx, msg) {
			stopKeep()
			wg.Wait() // no InProgress after the Nak
			w.release(held[i:])
			return
		}
	}
	w.log.InfoContext(ctx, "worker: store answered; circuit closed", "held", len(held))
}

// settleInPlace handles msg until it settles, pausing with backoff while the store is
// unavailable; false when ctx ended first.
func (w *Worker) settleInPlace(ctx context.Context, msg jetstream.Msg) bool {
	for n := 1; ; n++ {
		switch w.handle(ctx, msg) {
		case settled:
			return true
		case stopping:
			return false
		}
		if !sleep(ctx, w.storeWait(n)) {
			return false
		}
	}
}

// keepAlive tells the broker that the held messages are being worked on, now and every
// keepAliveEvery, until ctx ends. A message settled meanwhile answers
// ErrMsgAlreadyAckd, and the broker ignores a progress report for one it no longer
// waits on.
func (w *Worker) keepAlive(ctx context.Context, held []jetstream.Msg) {
	t := time.NewTicker(w.keepAliveEvery())
	defer t.Stop()
	for {
		for _, msg := range held {
			if err := msg.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
				w.log.DebugContext(ctx, "worker: in-progress report failed", "subject", msg.Subject(), "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sleep pauses for d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
