package pgtest

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared is one cluster for a whole test package, started by the first test that asks
// for it and stopped after the last. Declare it next to TestMain:
//
//	var cluster = pgtest.NewShared(pgtest.Options{Replicas: 2})
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }
//
// Tests that stop servers of a shared cluster must start them again in t.Cleanup and
// must not run in parallel with tests that need them.
type Shared struct {
	opts Options
	mu   sync.Mutex
	c    *Cluster
	err  error
}

// NewShared returns a shared cluster that starts on first use.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Cluster returns the running cluster, starting it on the first call. It fails t when
// the cluster could not start, and prints the servers' logs when t fails.
func (s *Shared) Cluster(t testing.TB) *Cluster {
	t.Helper()
	s.mu.Lock()
	if s.c == nil && s.err == nil {
		s.c, s.err = New(s.opts)
	}
	c, err := s.c, s.err
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs())
		}
	})
	return c
}

// Run runs the package's tests and stops the cluster after them; it returns the exit
// code for os.Exit.
func (s *Shared) Run(m *testing.M) int {
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Close stops the cluster if it was started.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	s.c = nil
	return err
}
