package edge

import "sync"

// budget is the retry budget: a token bucket that every request fills by ratio and
// every retry drains by one, holding at most burst tokens. Over any stretch, retries add
// at most ratio × requests + burst attempts, so a failing backend cannot make the edge
// multiply its own load.
type budget struct {
	mu     sync.Mutex
	tokens float64
	ratio  float64
	burst  float64
}

func newBudget(ratio float64, burst int) *budget {
	return &budget{tokens: float64(burst), ratio: ratio, burst: float64(burst)}
}

// request records one request.
func (b *budget) request() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+b.ratio)
	b.mu.Unlock()
}

// take spends a token for a retry; false when the budget is exhausted.
func (b *budget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// set changes the ratio and burst (a reloaded table), keeping the tokens within burst.
func (b *budget) set(ratio float64, burst int) {
	b.mu.Lock()
	b.ratio, b.burst = ratio, float64(burst)
	b.tokens = min(b.tokens, b.burst)
	b.mu.Unlock()
}
