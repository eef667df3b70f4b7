package bus

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/ninesid/nines/internal/command"
)

// maxRejections is how many times the flusher offers a record the broker refuses as
// such (ErrRejected) before it sets the record aside (Stats.Rejected, an error log), so
// that one bad record cannot hold back the ones behind it.
const maxRejections = 3

// Start starts the flusher, which publishes the spool's records in order whenever the
// spool is not empty, until ctx ends or Close. It returns at once; a second call does
// nothing.
func (p *Publisher) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed.Load() {
		return
	}
	p.started = true
	ctx, p.cancel = context.WithCancel(ctx)
	p.flusherDone = make(chan struct{})
	go p.flushLoop(ctx, p.flusherDone)
}

// flushLoop drains the spool, backing off (RetryMin doubling to RetryMax, with jitter)
// while the broker does not take the head record. It never drops a record for the
// broker's unavailability.
func (p *Publisher) flushLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	p.wakeUp() // records left by an earlier process
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		for p.sp.Len() > 0 {
			err := p.flush(ctx)
			if err == nil {
				failures = 0
				continue
			}
			if ctx.Err() != nil {
				return
			}
			failures++
			if p.noteFailure(err) || failures == 1 {
				p.log.Warn("flushing the spool: broker unavailable; retrying", "err", err, "depth", p.sp.Len())
			}
			t := time.NewTimer(backoff(p.cfg.RetryMin, p.cfg.RetryMax, failures))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (p *Publisher) wakeUp() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// backoff is min·2^(n-1), at most max, minus up to half of it at random.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo << min(max(n-1, 0), 16)
	if d <= 0 || d > hi {
		d = hi
	}
	return d - rand.N(d/2+1)
}

// flush publishes the spool's records in order, FlushBatch at a time, removing each
// batch once every record in it has its PubAck. It returns nil when the spool is empty
// and the first broker failure otherwise; the records not yet acknowledged stay at the
// head. A crash after a PubAck and before the removal sends those records again: the
// stream drops them as duplicates (same Nats-Msg-Id) within DuplicateWindow, and the
// worker's dedupe record after it.
func (p *Publisher) flush(ctx context.Context) error {
	for ctx.Err() == nil {
		recs, err := p.sp.Peek(p.cfg.FlushBatch)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			if p.noteSuccess() {
				p.log.Info("spool flushed; publishing directly again")
			}
			return nil
		}
		sent := 0
		var sendErr error
		for _, r := range recs {
			if sendErr = p.flushOne(ctx, r.Payload); sendErr != nil {
				break
			}
			sent++
		}
		if sent > 0 {
			if err := p.sp.Remove(sent); err != nil {
				return err
			}
			p.flushed.Add(uint64(sent))
		}
		if sendErr != nil {
			return sendErr
		}
	}
	return ctx.Err()
}

// flushOne publishes one spooled record. A record the broker refuses as such is retried
// maxRejections times, then set aside (nil: it is removed); so is a record that is not
// a command (it cannot have been written by Publish).
func (p *Publisher) flushOne(ctx context.Context, b []byte) error {
	c, err := command.DecodeEnvelope(b)
	if err != nil {
		p.rejected.Add(1)
		p.log.Error("spool: dropping a record that is not a command", "err", err)
		return nil
	}
	if err := p.send(ctx, c, b); err != nil {
		if !errors.Is(err, ErrRejected) {
			return err
		}
		p.rejections++
		if p.rejections < maxRejections {
			return err
		}
		p.rejections = 0
		p.rejected.Add(1)
		p.log.Error("spool: the broker keeps refusing a command; dropping it", "command", c, "err", err)
		return nil
	}
	p.rejections = 0
	return nil
}
