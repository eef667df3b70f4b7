package proc

import (
	"strings"
	"sync"
	"testing"
)

func TestOutputKeepsHeadAndTail(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		writes    []string
		want      string
		wantLeft  bool // a "left out" line
		wantBelow int  // the kept text is at most this long (plus the line)
	}{
		{name: "fits", limit: 40, writes: []string{"hello ", "world"}, want: "hello world"},
		{name: "exactly the limit", limit: 8, writes: []string{"12345678"}, want: "12345678"},
		{name: "head and tail", limit: 8, writes: []string{"ab", "cdefghij", "klmnop"}, wantLeft: true, wantBelow: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutput(tt.limit)
			total := 0
			for _, w := range tt.writes {
				n, err := o.Write([]byte(w))
				if err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
				total += n
			}
			got := o.String()
			if tt.want != "" && got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "left out") != tt.wantLeft {
				t.Fatalf("String() = %q, want a left-out line: %v", got, tt.wantLeft)
			}
			if tt.wantLeft {
				all := strings.Join(tt.writes, "")
				head, tail := all[:tt.limit/4], all[len(all)-(tt.limit-tt.limit/4):]
				if !strings.HasPrefix(got, head) || !strings.HasSuffix(got, tail) {
					t.Fatalf("String() = %q, want head %q and tail %q", got, head, tail)
				}
				if kept := len(head) + len(tail); kept > tt.wantBelow {
					t.Fatalf("kept %d bytes, limit %d", kept, tt.wantBelow)
				}
			}
		})
	}
}

// TestOutputBoundedUnderConcurrentWriters: many writers, far more than the limit; the
// buffer never holds more than twice its tail (the trim threshold) and the output
// reports what it left out.
func TestOutputBoundedUnderConcurrentWriters(t *testing.T) {
	o := newOutput(1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				_, _ = o.Write([]byte("0123456789\n"))
			}
		})
	}
	wg.Wait()
	o.mu.Lock()
	held := len(o.head) + len(o.tail)
	o.mu.Unlock()
	if held > 250+2*750 {
		t.Fatalf("holds %d bytes with a limit of 1000", held)
	}
	s := o.String()
	if !strings.Contains(s, "left out") || len(s) > 1100 {
		t.Fatalf("String() is %d bytes: %.200q", len(s), s)
	}
	if got := o.lastLines(3); got != "0123456789\n0123456789\n0123456789\n" {
		t.Fatalf("lastLines(3) = %q", got)
	}
}
