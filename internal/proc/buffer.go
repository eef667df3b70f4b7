package proc

import (
	"fmt"
	"sync"
)

// DefaultOutputLimit bounds the output a Process keeps (Config.OutputLimit).
const DefaultOutputLimit = 1 << 20

// output keeps the first quarter of its limit (start-up lines) and the most recent
// rest; what falls between is counted, not kept. Writers may be concurrent.
type output struct {
	mu      sync.Mutex
	headMax int
	tailMax int
	head    []byte
	tail    []byte // the last tailMax bytes once trimmed; up to 2*tailMax before
	dropped int64
}

func newOutput(limit int) *output {
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	headMax := limit / 4
	return &output{headMax: headMax, tailMax: limit - headMax}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(p)
	if room := o.headMax - len(o.head); room > 0 {
		k := min(room, len(p))
		o.head = append(o.head, p[:k]...)
		p = p[k:]
	}
	o.tail = append(o.tail, p...)
	if len(o.tail) > 2*o.tailMax { // trim rarely: amortised O(1) per byte
		cut := len(o.tail) - o.tailMax
		o.dropped += int64(cut)
		o.tail = append(o.tail[:0:0], o.tail[cut:]...)
	}
	return n, nil
}

// String is the kept output, with a line saying how much was left out, if anything.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	tail, dropped := o.tail, o.dropped
	if len(tail) > o.tailMax {
		dropped += int64(len(tail) - o.tailMax)
		tail = tail[len(tail)-o.tailMax:]
	}
	if dropped == 0 {
		return string(o.head) + string(tail)
	}
	return fmt.Sprintf("%s\n[... %d bytes of output left out ...]\n%s", o.head, dropped, tail)
}

// lastLines is at most the last n lines of the kept output, for error messages.
func (o *output) lastLines(n int) string {
	s := o.String()
	end := len(s)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' && i < end-1 {
			n--
			if n == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}
