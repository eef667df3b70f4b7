package lab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Error classes of a failed outcome.
const (
	// ClassOverload: the flow was due while every in-flight slot was taken; it was not
	// started. (The target was too slow to keep up with the rate.)
	ClassOverload = "overload"
	// ClassTimeout: the flow did not end within LoadConfig.Timeout.
	ClassTimeout = "timeout"
	// ClassConnect: no connection could be made (refused, unreachable, DNS).
	ClassConnect = "connect"
	// ClassTransport: the connection broke (reset, EOF) before a whole response.
	ClassTransport = "transport"
	// ClassHTTP5xx and ClassHTTP4xx: an answer with that status where the flow wanted
	// another.
	ClassHTTP5xx = "http_5xx"
	ClassHTTP4xx = "http_4xx"
	// ClassProtocol: an answer with the expected status that was wrong all the same (no
	// form, no code, a wrong state, an ID token that does not verify…).
	ClassProtocol = "protocol"
	// ClassSessionLost: an SSO sign-in got the login form: its session is gone.
	ClassSessionLost = "session_lost"
	// ClassCancelled: the run was interrupted (its context ended) while the flow ran;
	// not the target's doing.
	ClassCancelled = "cancelled"
	// ClassNoToken: a refresh or userinfo flow was due and no token was at hand (every
	// sign-in so far failed, or every refresh token was in use).
	ClassNoToken = "no_token"
)

// Outcome is one flow as the load saw it. Times are the scheduler's: Start is when the
// flow was due (open loop: a late start counts against the latency, so a stalled
// target cannot hide behind the scheduler waiting for it), Lag how late it actually
// started, Latency from Start to the end of its last step.
type Outcome struct {
	Seq     int           `json:"seq"` // the flow's index in its schedule (end-user and admin have one each)
	Flow    Flow          `json:"flow"`
	Start   time.Time     `json:"start"`
	Lag     time.Duration `json:"lag_ns"`
	Latency time.Duration `json:"latency_ns"`
	OK      bool          `json:"ok"`
	Status  int           `json:"status,omitempty"` // the last HTTP status seen
	Step    string        `json:"step,omitempty"`   // the step that failed
	Class   string        `json:"class,omitempty"`  // the failure's class (Class…)
	Err     string        `json:"error,omitempty"`  // what went wrong, ≤ 300 bytes
}

// End is when the flow ended.
func (o Outcome) End() time.Time { return o.Start.Add(o.Latency) }

// outcomeRecorder keeps every outcome in memory, up to its bound, and writes each as a JSON
// line to out.
type outcomeRecorder struct {
	mu         sync.Mutex
	list       []Outcome
	bound      int
	ok, failed int
	dropped    int
	out        *bufio.Writer
	enc        *json.Encoder
	werr       error
}

func newOutcomeRecorder(bound int, out io.Writer) *outcomeRecorder {
	r := &outcomeRecorder{list: make([]Outcome, 0, min(bound, 1<<16)), bound: bound}
	if out != nil {
		r.out = bufio.NewWriterSize(out, 64<<10)
		r.enc = json.NewEncoder(r.out)
	}
	return r
}

func (r *outcomeRecorder) record(o Outcome) {
	if len(o.Err) > 300 {
		o.Err = o.Err[:300]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.OK {
		r.ok++
	} else {
		r.failed++
	}
	if len(r.list) < r.bound {
		r.list = append(r.list, o)
	} else {
		r.dropped++ // cannot happen: Run refuses configurations beyond the bound
	}
	if r.enc != nil && r.werr == nil {
		r.werr = r.enc.Encode(o)
	}
}

func (r *outcomeRecorder) counts() (ok, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok, r.failed
}

func (r *outcomeRecorder) outcomes() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list
}

func (r *outcomeRecorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out != nil && r.werr == nil {
		r.werr = r.out.Flush()
	}
	if r.werr == nil && r.dropped > 0 {
		r.werr = fmt.Errorf("%d outcomes beyond the bound of %d were not kept", r.dropped, r.bound)
	}
	return r.werr
}

// ReadOutcomes reads a JSONL file written through LoadConfig.Out.
func ReadOutcomes(path string) ([]Outcome, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Outcome
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var o Outcome
		if err := dec.Decode(&o); err != nil {
			return out, fmt.Errorf("%s: outcome %d: %w", path, len(out)+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}
