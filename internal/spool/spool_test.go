package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(payload(i), Normal); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

func payload(i int) []byte { return fmt.Appendf(nil, "record-%04d-padding-padding", i) }

// expect checks that s holds exactly records from..to-1, in order.
func expect(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	recs, err := s.Peek(to - from + 10)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if len(recs) != to-from || s.Len() != to-from {
		t.Fatalf("spool holds %d records (Len %d), want %d", len(recs), s.Len(), to-from)
	}
	for i, r := range recs {
		if string(r.Payload) != string(payload(from+i)) {
			t.Fatalf("record %d = %q, want %q", i, r.Payload, payload(from+i))
		}
	}
	st := s.Stats()
	if (st.Depth == 0) != st.Oldest.IsZero() {
		t.Fatalf("Stats = %+v: Oldest must be set exactly when records are live", st)
	}
}

func TestFIFOAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentBytes: 200} // four records a segment
	s := open(t, dir, o)
	appendN(t, s, 0, 20)
	if st := s.Stats(); st.Segments < 4 {
		t.Fatalf("Segments = %d, want several", st.Segments)
	}
	expect(t, s, 0, 20)
	if err := s.Remove(6); err != nil { // crosses a segment boundary
		t.Fatal(err)
	}
	expect(t, s, 6, 20)
	s.Close()

	s = open(t, dir, o)
	expect(t, s, 6, 20)
	appendN(t, s, 20, 3)
	if err := s.Remove(17); err != nil { // everything
		t.Fatal(err)
	}
	expect(t, s, 23, 23)
	if st := s.Stats(); st.Segments != 0 || st.Bytes != 0 {
		t.Fatalf("an empty spool keeps %+v", st)
	}
	appendN(t, s, 23, 2)
	s.Close()

	s = open(t, dir, o)
	expect(t, s, 23, 25)
	if err := s.Remove(3); err == nil {
		t.Fatal("Remove beyond the live records succeeded")
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) == 0 {
		t.Fatalf("segments: %v, %v", seqs, err)
	}
	return filepath.Join(dir, segName(seqs[len(seqs)-1]))
}

// TestTornAndCorruptTail: a crash leaves part of the last record, or a bad byte; Open
// keeps every complete record before it and appends after it.
func TestTornAndCorruptTail(t *testing.T) {
	recSize := int64(HeaderSize + len(payload(0)))
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		keep   int  // of 5
		cut    bool // Open must truncate something
	}{
		{"cut in the payload", truncateBy(3), 4, true},
		{"cut in the header", truncateBy(recSize - 5), 4, true},
		{"cut to the boundary", truncateBy(recSize), 4, false},
		{"garbage after the last record", appendBytes([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}), 5, true},
		{"flipped payload byte in record 3", flipAt(2*recSize + HeaderSize + 2), 2, true},
		{"flipped length of record 4", flipAt(3 * recSize), 3, true},
		{"flipped time of record 5", flipAt(4*recSize + 9), 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{})
			appendN(t, s, 0, 5)
			s.Close()
			tt.damage(t, lastSegment(t, dir))

			s = open(t, dir, Options{})
			expect(t, s, 0, tt.keep)
			if got := s.Stats().TruncatedBytes; (got > 0) != tt.cut {
				t.Errorf("TruncatedBytes = %d, want something cut: %v", got, tt.cut)
			}
			appendN(t, s, tt.keep, 2)
			s.Close()
			s = open(t, dir, Options{})
			expect(t, s, 0, tt.keep+2)
		})
	}
}

func truncateBy(n int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		fi, err := os.Stat(path)
		if err == nil {
			err = os.Truncate(path, fi.Size()-n)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func appendBytes(b []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.Write(b)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func flipAt(off int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x40
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTornHead: a torn HEAD write leaves the previous slot, which re-delivers the last
// removed batch (at least once), never skips a record.
func TestTornHead(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	appendN(t, s, 0, 10)
	if err := s.Remove(3); err != nil { // slot 1
		t.Fatal(err)
	}
	if err := s.Remove(2); err != nil { // slot 0
		t.Fatal(err)
	}
	s.Close()
	flipAt(5)(t, filepath.Join(dir, "HEAD")) // slot 0 torn
	s = open(t, dir, Options{})
	expect(t, s, 3, 10)
}

func TestBounds(t *testing.T) {
	recSize := int64(HeaderSize + len(payload(0)))
	s := open(t, t.TempDir(), Options{MaxBytes: 10 * recSize, ReserveBytes: 3 * recSize, MaxRecordBytes: 64})
	appendN(t, s, 0, 7)
	if err := s.Append(payload(7), Normal); !errors.Is(err, ErrFull) {
		t.Fatalf("Normal append into the reserve: %v, want ErrFull", err)
	}
	for i := 7; i < 10; i++ {
		if err := s.Append(payload(i), High); err != nil {
			t.Fatalf("High append %d: %v", i, err)
		}
	}
	if err := s.Append(payload(10), High); !errors.Is(err, ErrFull) {
		t.Fatalf("High append beyond MaxBytes: %v, want ErrFull", err)
	}
	if err := s.Append(make([]byte, 65), High); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized append: %v, want ErrTooLarge", err)
	}
	if err := s.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(payload(10), High); err != nil {
		t.Fatalf("append after a Remove: %v", err)
	}

	r := open(t, t.TempDir(), Options{MaxRecords: 4, ReserveRecords: 1})
	appendN(t, r, 0, 3)
	if err := r.Append(payload(3), Normal); !errors.Is(err, ErrFull) {
		t.Fatalf("Normal append beyond the record bound: %v", err)
	}
	if err := r.Append(payload(3), High); err != nil {
		t.Fatal(err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	if s, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestClosed(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	s.Close()
	if err := s.Append(payload(0), High); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := s.Peek(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Peek after Close: %v", err)
	}
}

// TestConcurrentAppend: records appended from many goroutines (sharing fsyncs) are all
// on disk after a reopen, each goroutine's in its order, also across segments.
func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 1 << 10})
	const workers, each = 8, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				if err := s.Append(fmt.Appendf(nil, "%d/%d", w, i), Normal); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, dir, Options{})
	recs, err := s.Peek(workers*each + 1)
	if err != nil || len(recs) != workers*each {
		t.Fatalf("reopened spool: %d records, %v; want %d", len(recs), err, workers*each)
	}
	next := make([]int, workers)
	for _, r := range recs {
		var w, i int
		if _, err := fmt.Sscanf(string(r.Payload), "%d/%d", &w, &i); err != nil || w < 0 || w >= workers || i != next[w] {
			t.Fatalf("record %q out of order (want %d/%d)", r.Payload, w, next[w])
		}
		next[w]++
	}
}
