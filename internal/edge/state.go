package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Overrides is what the operator changed on top of the routing table through the
// control API: cluster weights, drained clusters and zones, region failovers. It
// persists in the state file, so a restart (or a table reload, or new backends in a
// drained zone) brings nothing drained back; only an undrain, a failback or an undo does.
type Overrides struct {
	Weights         map[string]map[string]int `json:"weights,omitempty"`          // region → cluster → weight
	DrainedClusters []string                  `json:"drained_clusters,omitempty"` // region/cluster, sorted
	DrainedZones    []string                  `json:"drained_zones,omitempty"`    // region/zone, sorted
	Failovers       map[string]string         `json:"failovers,omitempty"`        // region → the region taking its login traffic
}

func (o Overrides) clone() Overrides {
	c := Overrides{DrainedClusters: slices.Clone(o.DrainedClusters), DrainedZones: slices.Clone(o.DrainedZones),
		Failovers: maps.Clone(o.Failovers)}
	if o.Weights != nil {
		c.Weights = map[string]map[string]int{}
		for r, ws := range o.Weights {
			c.Weights[r] = maps.Clone(ws)
		}
	}
	return c
}

// normalise sorts and de-duplicates the lists and drops empty maps, so that equal states
// compare and persist equal.
func (o *Overrides) normalise() {
	for _, l := range []*[]string{&o.DrainedClusters, &o.DrainedZones} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
		if len(*l) == 0 {
			*l = nil
		}
	}
	for r, ws := range o.Weights {
		if len(ws) == 0 {
			delete(o.Weights, r)
		}
	}
	if len(o.Weights) == 0 {
		o.Weights = nil
	}
	if len(o.Failovers) == 0 {
		o.Failovers = nil
	}
}

func (o Overrides) equal(p Overrides) bool {
	a, _ := json.Marshal(o)
	b, _ := json.Marshal(p)
	return bytes.Equal(a, b)
}

// opState is an Overrides with lookup sets, immutable once made.
type opState struct {
	o        Overrides
	drainedC map[string]bool
	drainedZ map[string]bool
}

func newOpState(o Overrides) *opState {
	s := &opState{o: o, drainedC: map[string]bool{}, drainedZ: map[string]bool{}}
	for _, c := range o.DrainedClusters {
		s.drainedC[c] = true
	}
	for _, z := range o.DrainedZones {
		s.drainedZ[z] = true
	}
	return s
}

func (s *opState) clusterDrained(region, cluster string) bool { return s.drainedC[region+"/"+cluster] }
func (s *opState) zoneDrained(region, zone string) bool       { return s.drainedZ[region+"/"+zone] }

// weight is the cluster's weight: the operator's, else the table's.
func (s *opState) weight(c *cluster) int {
	if w, ok := s.o.Weights[c.region][c.name]; ok {
		return w
	}
	return c.weight
}

// undoEntry is the state before a change, for undo.
type undoEntry struct {
	Before Overrides `json:"before"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	At     time.Time `json:"at"`
}

// maxUndo is how many changes undo can walk back.
const maxUndo = 50

// stateFileVersion is the format of the state file.
const stateFileVersion = 1

type stateFile struct {
	Version   int         `json:"version"`
	Overrides Overrides   `json:"overrides"`
	Undo      []undoEntry `json:"undo,omitempty"`
}

// stateStore holds the current Overrides (lock-free reads) and persists every change
// atomically (temporary file, fsync, rename, fsync of the directory) before it takes
// effect: a change the edge acknowledged survives a crash.
type stateStore struct {
	path string
	mu   sync.Mutex // serialises changes
	cur  atomic.Pointer[opState]
	undo []undoEntry
}

// openState reads the state file at path; a missing file is an empty state. An
// unreadable or corrupt file is an error: starting without it could send traffic to a
// drained cluster or zone.
func openState(path string) (*stateStore, error) {
	s := &stateStore{path: path}
	s.cur.Store(newOpState(Overrides{}))
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("edge state file %s: %w", path, err)
	}
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.Version != stateFileVersion {
		return nil, fmt.Errorf("edge state file %s is not a version-%d state file (%v); it holds the drains and weights "+
			"an operator set: repair it, or remove it to start with none", path, stateFileVersion, err)
	}
	f.Overrides.normalise()
	s.cur.Store(newOpState(f.Overrides))
	s.undo = f.Undo
	return s, nil
}

func (s *stateStore) load() *opState { return s.cur.Load() }

// errNoChange is returned by change when the state would stay the same.
var errNoChange = errors.New("nothing to change")

// change applies fn to a copy of the current Overrides, persists the result and makes
// it current. pushUndo records the state before, for undo. fn returning an error leaves
// everything as it was.
func (s *stateStore) change(action, target string, pushUndo bool, fn func(*Overrides) error) (before, after Overrides, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before = s.cur.Load().o
	after = before.clone()
	if err := fn(&after); err != nil {
		return before, before, err
	}
	after.normalise()
	if after.equal(before) {
		return before, before, errNoChange
	}
	undo := s.undo
	if pushUndo {
		undo = append(slices.Clone(s.undo), undoEntry{Before: before.clone(), Action: action, Target: target, At: time.Now().UTC()})
		if len(undo) > maxUndo {
			undo = undo[len(undo)-maxUndo:]
		}
	}
	if err := s.persist(after, undo); err != nil {
		return before, before, err
	}
	s.undo = undo
	s.cur.Store(newOpState(after))
	return before, after, nil
}

// undoLast restores the state before the last change that recorded one.
func (s *stateStore) undoLast() (undoEntry, Overrides, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.undo) == 0 {
		return undoEntry{}, s.cur.Load().o, errNoChange
	}
	last := s.undo[len(s.undo)-1]
	undo := s.undo[: len(s.undo)-1 : len(s.undo)-1]
	if err := s.persist(last.Before, undo); err != nil {
		return undoEntry{}, s.cur.Load().o, err
	}
	s.undo = undo
	s.cur.Store(newOpState(last.Before))
	return last, last.Before, nil
}

// undoDepth is how many changes undo can revert.
func (s *stateStore) undoDepth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.undo)
}

func (s *stateStore) persist(o Overrides, undo []undoEntry) error {
	if s.path == "" {
		return nil // tests without a file
	}
	raw, err := json.MarshalIndent(stateFile{Version: stateFileVersion, Overrides: o, Undo: undo}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(raw, '\n'))
}

// writeFileAtomic replaces path with data: a temporary file in the same directory,
// written and fsync'd, renamed over path, then the directory fsync'd, so that a crash
// leaves the old file or the new one, never a torn one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err = os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
