package edge

import (
	"sync"
	"time"
)

// window counts events and failures over the last size seconds, in one-second buckets.
// It is safe for concurrent use.
type window struct {
	mu   sync.Mutex
	secs []int64 // the Unix second each bucket holds
	n    []uint32
	fail []uint32
}

func newWindow(d time.Duration) *window {
	size := int(d / time.Second)
	if size < 1 {
		size = 1
	}
	return &window{secs: make([]int64, size), n: make([]uint32, size), fail: make([]uint32, size)}
}

func (w *window) add(now time.Time, failed bool) {
	s := now.Unix()
	w.mu.Lock()
	i := int(s % int64(len(w.secs)))
	if w.secs[i] != s {
		w.secs[i], w.n[i], w.fail[i] = s, 0, 0
	}
	w.n[i]++
	if failed {
		w.fail[i]++
	}
	w.mu.Unlock()
}

// sum is the events and failures of the last len(buckets) seconds, this one included.
func (w *window) sum(now time.Time) (n, failed int) {
	s := now.Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, bs := range w.secs {
		if bs > s-int64(len(w.secs)) && bs <= s {
			n += int(w.n[i])
			failed += int(w.fail[i])
		}
	}
	return n, failed
}

// rate is the events per second and the failed share over the window.
func (w *window) rate(now time.Time) (perSecond, errorRate float64) {
	n, f := w.sum(now)
	if n == 0 {
		return 0, 0
	}
	return float64(n) / float64(len(w.secs)), float64(f) / float64(n)
}

func (w *window) reset() {
	w.mu.Lock()
	clear(w.secs)
	w.mu.Unlock()
}
