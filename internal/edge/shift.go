package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/ninesid/nines/internal/edge/table"
)

// Shift limits.
const (
	defaultShiftStep     = 10
	defaultShiftInterval = 30 * time.Second
	minShiftInterval     = 100 * time.Millisecond
	maxShiftInterval     = time.Hour
)

// ShiftStatus is a gradual shift: the cluster's share of its region goes from
// FromPercent to ToPercent by Step every Interval, each step a weight change with its
// pre-scale check. A refused step stops the shift where it is.
type ShiftStatus struct {
	Region         string    `json:"region"`
	Cluster        string    `json:"cluster"`
	FromPercent    int       `json:"from_percent"`
	ToPercent      int       `json:"to_percent"`
	CurrentPercent int       `json:"current_percent"`
	Step           int       `json:"step"`
	Interval       string    `json:"interval"`
	State          string    `json:"state"` // running, done, refused, canceled, failed
	Detail         string    `json:"detail,omitempty"`
	Started        time.Time `json:"started"`
	Updated        time.Time `json:"updated"`
}

// shiftJob is a gradual shift running in the background.
type shiftJob struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	status ShiftStatus
}

func (j *shiftJob) snapshot() ShiftStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status
}

func (j *shiftJob) update(f func(*ShiftStatus)) {
	j.mu.Lock()
	f(&j.status)
	j.status.Updated = time.Now().UTC()
	j.mu.Unlock()
}

// stopShift cancels a running shift and waits for it; its status stays visible.
func (e *Edge) stopShift() {
	e.shiftMu.Lock()
	j := e.shift
	e.shiftMu.Unlock()
	if j == nil {
		return
	}
	j.cancel()
	<-j.done
}

// withShiftStopped stops a running shift and runs f while no shift can start: an
// operator's change (weights, a drain, undo) ends the shift, and a shift being started
// at that moment must not step over the change afterwards. shiftStartMu orders the two:
// handleShift holds it from stopping the previous shift until the new one is registered,
// so f runs either before that shift's first step or after it is registered (and
// stopped here).
func (e *Edge) withShiftStopped(f func() error) error {
	e.shiftStartMu.Lock()
	defer e.shiftStartMu.Unlock()
	e.stopShift()
	return f()
}

func (e *Edge) shiftStatus() *ShiftStatus {
	e.shiftMu.Lock()
	j := e.shift
	e.shiftMu.Unlock()
	if j == nil {
		return nil
	}
	s := j.snapshot()
	return &s
}

// shiftReq starts a gradual shift.
type shiftReq struct {
	changeReq
	Region    string `json:"region"`
	Cluster   string `json:"cluster"`
	ToPercent *int   `json:"to_percent"` // default 100
	Step      int    `json:"step"`       // percentage points per step, default 10
	Interval  string `json:"interval"`   // default 30s
}

func (e *Edge) handleShift(w http.ResponseWriter, r *http.Request) error {
	var req shiftReq
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	region := e.regionOrDefault(req.Region)
	rt := e.rt.Load()
	if rt.clusters[region+"/"+req.Cluster] == nil {
		return invalid("cluster", fmt.Sprintf("%q is not a login cluster of region %s (%s)", req.Cluster, region, clusterNames(rt, region)))
	}
	to := 100
	if req.ToPercent != nil {
		to = *req.ToPercent
	}
	if to < 0 || to > 100 {
		return invalid("to_percent", "from 0 to 100")
	}
	if req.Step == 0 {
		req.Step = defaultShiftStep
	}
	if req.Step < 1 || req.Step > 100 {
		return invalid("step", "from 1 to 100 percentage points")
	}
	interval := defaultShiftInterval
	if req.Interval != "" {
		d, err := time.ParseDuration(req.Interval)
		if err != nil || d < minShiftInterval || d > maxShiftInterval {
			return invalid("interval", fmt.Sprintf("a duration from %s to %s", minShiftInterval, maxShiftInterval))
		}
		interval = d
	}
	if len(rt.clustersOf(region)) < 2 {
		return invalid("cluster", "region "+region+" has one login cluster: there is nothing to shift between")
	}
	e.shiftStartMu.Lock()
	defer e.shiftStartMu.Unlock()
	e.stopShift()
	from := sharePercent(rt, e.state.load(), region, req.Cluster)
	if from == to {
		return &problem{Type: typeConflict, Title: "Nothing to change", Status: http.StatusConflict,
			Detail: fmt.Sprintf("cluster %s has %d%% of region %s already", req.Cluster, to, region)}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	j := &shiftJob{cancel: cancel, done: make(chan struct{}), status: ShiftStatus{Region: region, Cluster: req.Cluster,
		FromPercent: from, ToPercent: to, CurrentPercent: from, Step: req.Step, Interval: interval.String(), State: "running",
		Started: time.Now().UTC(), Updated: time.Now().UTC()}}
	// The first step runs now, so a refusal answers this call; it records the undo
	// point for the whole shift.
	if err := e.shiftStep(ctx, j, remote(r), req.changeReq, true); err != nil {
		cancel()
		return err
	}
	e.shiftMu.Lock()
	e.shift = j
	e.shiftMu.Unlock()
	go e.runShift(ctx, j, interval, remote(r), req.changeReq)
	writeJSON(w, http.StatusAccepted, j.snapshot())
	return nil
}

func (e *Edge) handleShiftCancel(w http.ResponseWriter, r *http.Request) error {
	e.shiftStartMu.Lock() // a shift being started is registered first, then canceled
	defer e.shiftStartMu.Unlock()
	st := e.shiftStatus()
	if st == nil || st.State != "running" {
		return &problem{Type: typeConflict, Title: "No shift running", Status: http.StatusConflict, Detail: "no shift is running"}
	}
	e.stopShift()
	e.events.add(Event{Kind: KindChange, Action: "cancel_shift", Target: st.Region + "/" + st.Cluster, Result: "ok",
		Detail: fmt.Sprintf("stopped at %d%%", e.shiftStatus().CurrentPercent), Remote: remote(r)})
	writeJSON(w, http.StatusOK, e.shiftStatus())
	return nil
}

// runShift makes the remaining steps, one per interval, until the target share, a
// refusal, or cancellation.
func (e *Edge) runShift(ctx context.Context, j *shiftJob, interval time.Duration, remoteAddr string, cr changeReq) {
	defer close(j.done)
	defer j.cancel()
	for {
		if st := j.snapshot(); st.CurrentPercent == st.ToPercent {
			j.update(func(s *ShiftStatus) { s.State = "done" })
			return
		}
		select {
		case <-ctx.Done():
			j.update(func(s *ShiftStatus) { s.State = "canceled" })
			return
		case <-time.After(interval):
		}
		if err := e.shiftStep(ctx, j, remoteAddr, cr, false); err != nil {
			return // shiftStep recorded why
		}
	}
}

// shiftStep moves the cluster's share one step toward the target.
func (e *Edge) shiftStep(ctx context.Context, j *shiftJob, remoteAddr string, cr changeReq, first bool) error {
	st := j.snapshot()
	next := st.CurrentPercent + st.Step
	if st.ToPercent < st.CurrentPercent {
		next = st.CurrentPercent - st.Step
	}
	if (st.ToPercent >= st.CurrentPercent && next > st.ToPercent) || (st.ToPercent < st.CurrentPercent && next < st.ToPercent) {
		next = st.ToPercent
	}
	rt := e.rt.Load()
	ws := sharesWith(rt, e.state.load(), st.Region, st.Cluster, next)
	target := fmt.Sprintf("%s/%s %d%%", st.Region, st.Cluster, next)
	_, err := e.doChange(ctx, remoteAddr, "shift_step", target, cr, first, []string{st.Region}, "", "", func(o *Overrides) error {
		setWeights(o, st.Region, ws)
		return nil
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	var p *problem
	switch {
	case errors.As(err, &p) && p.Type == typeConflict && p.Title == "Nothing to change":
		err = nil
	case err != nil:
		state := "failed"
		if errors.As(err, &p) && p.Type == typeRefused {
			state = "refused"
		}
		j.update(func(s *ShiftStatus) { s.State, s.Detail = state, err.Error() })
		return err
	}
	j.update(func(s *ShiftStatus) { s.CurrentPercent = next })
	return nil
}

// sharePercent is a cluster's share of its region's weight, in percent (rounded).
func sharePercent(rt *routing, st *opState, region, name string) int {
	total, mine := 0, 0
	cs := rt.clustersOf(region)
	for _, c := range cs {
		w := st.weight(c)
		total += w
		if c.name == name {
			mine = w
		}
	}
	if total == 0 {
		return 100 / max(1, len(cs))
	}
	return (mine*100 + total/2) / total
}

// sharesWith gives cluster name pct percent of the region and the others the rest in
// proportion to their current weights (evenly when those are all 0), as weights that sum
// to 100.
func sharesWith(rt *routing, st *opState, region, name string, pct int) map[string]int {
	cs := rt.clustersOf(region)
	ws := map[string]int{name: pct}
	var others []*cluster
	sum := 0
	for _, c := range cs {
		if c.name != name {
			others = append(others, c)
			sum += st.weight(c)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].name < others[j].name })
	rest, given := 100-pct, 0
	for _, c := range others {
		v := rest / len(others)
		if sum > 0 {
			v = rest * st.weight(c) / sum
		}
		ws[c.name] = v
		given += v
	}
	if len(others) > 0 {
		ws[others[0].name] += rest - given // the rounding remainder
	}
	for k, v := range ws {
		ws[k] = min(max(v, 0), table.MaxWeight)
	}
	return ws
}
