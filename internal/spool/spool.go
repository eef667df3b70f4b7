package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxBytes       = 64 << 20
	DefaultMaxRecords     = 256 << 10
	DefaultSegmentBytes   = 4 << 20
	DefaultMaxRecordBytes = 64 << 10
)

// HeaderSize is the bytes a record takes besides its payload.
const HeaderSize = 16

// hardMaxRecord bounds a length field read from disk whatever the options: a larger one
// is corruption.
const hardMaxRecord = 16 << 20

var (
	// ErrFull: the record does not fit the spool's bounds (for its priority).
	ErrFull = errors.New("spool: full")
	// ErrTooLarge: the payload is longer than Options.MaxRecordBytes.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrClosed: the spool was closed.
	ErrClosed = errors.New("spool: closed")
	// ErrLocked: another spool (in this or another process) holds the directory.
	ErrLocked = errors.New("spool: directory in use")
	// ErrCorrupt: a record read back failed its checksum after Open had verified it.
	ErrCorrupt = errors.New("spool: corrupt record")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options bound a spool; zero values take the defaults.
type Options struct {
	MaxBytes   int64 // live records, headers included (DefaultMaxBytes)
	MaxRecords int   // live records (DefaultMaxRecords)
	// ReserveBytes and ReserveRecords are kept for High-priority appends (default a
	// quarter of MaxBytes and MaxRecords; negative: no reserve).
	ReserveBytes   int64
	ReserveRecords int
	SegmentBytes   int64 // a segment takes no more appends beyond it (DefaultSegmentBytes)
	MaxRecordBytes int   // payload bound (DefaultMaxRecordBytes)
}

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	switch {
	case o.ReserveBytes == 0:
		o.ReserveBytes = o.MaxBytes / 4
	case o.ReserveBytes < 0 || o.ReserveBytes > o.MaxBytes:
		o.ReserveBytes = 0
	}
	switch {
	case o.ReserveRecords == 0:
		o.ReserveRecords = o.MaxRecords / 4
	case o.ReserveRecords < 0 || o.ReserveRecords > o.MaxRecords:
		o.ReserveRecords = 0
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxRecordBytes <= 0 || o.MaxRecordBytes > hardMaxRecord {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
}

// Priority says how much of the spool an append may use.
type Priority int

const (
	// Normal appends stop short of the reserve.
	Normal Priority = iota
	// High appends may fill the spool to its bounds.
	High
)

// Record is one spooled payload.
type Record struct {
	At      time.Time // when it was appended
	Payload []byte
}

// Stats describe a spool's content.
type Stats struct {
	Depth  int       // live records
	Bytes  int64     // their size on disk, headers included
	Oldest time.Time // append time of the first live record; zero when empty
	// TruncatedBytes were cut at Open from torn or corrupt segment tails.
	TruncatedBytes int64
	Segments       int
}

// position is a record boundary: an offset in a segment.
type position struct {
	seg uint64
	off int64
}

type segment struct {
	seq  uint64
	f    *os.File
	size int64 // bytes of complete records
}

// Spool is a FIFO of records in a directory. Its methods are safe for concurrent use;
// records are removed by one consumer (Peek then Remove).
type Spool struct {
	dir string
	o   Options

	mu        sync.Mutex
	lock      *os.File
	head      *os.File
	headCount uint64 // writes of HEAD so far; picks the slot
	segs      []*segment
	pos       position // first live record
	nextSeq   uint64
	count     int
	bytes     int64
	oldest    time.Time
	truncated int64
	err       error // a failed append that could not be undone: the spool takes no more
	closed    bool
	// written counts records written, synced those known fsync'd (group commit).
	written, synced uint64
	syncMu          sync.Mutex // one fsync at a time; taken before mu
}

// Append adds p at the tail and returns once it is on disk (fsync'd). It is ErrFull
// when the record would take the spool beyond its bounds for prio, ErrTooLarge beyond
// MaxRecordBytes.
//
// Concurrent appends share fsyncs (group commit): each writes its record, then one
// fsync covers every record written before it. A record is visible to Peek once
// written, possibly before its fsync: delivering it early is harmless. A failed fsync
// makes the spool refuse every later append; the records of that group stay queued
// and may still be delivered, although their Append returned the error.
func (s *Spool) Append(p []byte, prio Priority) error {
	if len(p) > s.o.MaxRecordBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(p), s.o.MaxRecordBytes)
	}
	n, err := s.write(p, prio)
	if err != nil {
		return err
	}
	return s.syncThrough(n)
}

// write writes the record and returns its number in the order of writes.
func (s *Spool) write(p []byte, prio Priority) (uint64, error) {
	size := int64(HeaderSize + len(p))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	maxBytes, maxRecords := s.o.MaxBytes, s.o.MaxRecords
	if prio != High {
		maxBytes, maxRecords = maxBytes-s.o.ReserveBytes, maxRecords-s.o.ReserveRecords
	}
	if s.bytes+size > maxBytes || s.count+1 > maxRecords {
		return 0, fmt.Errorf("%w: %d records, %d bytes", ErrFull, s.count, s.bytes)
	}
	sg, err := s.active(size)
	if err != nil {
		return 0, err
	}
	at := time.Now()
	if _, err := sg.f.WriteAt(encodeRecord(p, at), sg.size); err != nil {
		return 0, s.undo(sg, err)
	}
	sg.size += size
	if s.count == 0 {
		s.oldest = at
	}
	s.count++
	s.bytes += size
	s.written++
	return s.written, nil
}

// syncThrough returns once record n (in the order of writes) is fsync'd: by this call,
// or by another's that came first (group commit). Older segments were synced when the
// next one was opened, so syncing the last one covers every record written.
func (s *Spool) syncThrough(n uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.synced >= n {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	if err := s.syncLast(); err != nil {
		return err
	}
	return nil
}

// syncLast fsyncs the last segment (s.mu held) and marks every record written synced.
// Without segments, every record written was removed: nothing is left to sync.
func (s *Spool) syncLast() error {
	if s.synced == s.written {
		return nil
	}
	if len(s.segs) > 0 {
		if err := s.segs[len(s.segs)-1].f.Sync(); err != nil {
			s.err = fmt.Errorf("spool: unusable after a failed fsync: %w", err)
			return s.err
		}
	}
	s.synced = s.written
	return nil
}

// undo cuts a failed append off the segment; if that fails too, the spool refuses every
// later append (Open would cut it).
func (s *Spool) undo(sg *segment, cause error) error {
	err := fmt.Errorf("spool: append: %w", cause)
	if terr := sg.f.Truncate(sg.size); terr != nil {
		s.err = fmt.Errorf("spool: unusable after a failed append: %w (truncate: %v)", cause, terr)
	}
	return err
}

// active returns the segment to append a record of size bytes to, opening a new one
// when there is none or the last one is full.
func (s *Spool) active(size int64) (*segment, error) {
	if n := len(s.segs); n > 0 {
		if last := s.segs[n-1]; last.size == 0 || last.size+size <= s.o.SegmentBytes {
			return last, nil
		}
	}
	if err := s.syncLast(); err != nil { // records of older segments are always synced
		return nil, err
	}
	seq := s.nextSeq
	f, err := os.OpenFile(filepath.Join(s.dir, segName(seq)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: new segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(filepath.Join(s.dir, segName(seq)))
		return nil, err
	}
	s.nextSeq++
	sg := &segment{seq: seq, f: f}
	s.segs = append(s.segs, sg)
	if len(s.segs) == 1 {
		s.pos = position{seg: seq}
	}
	return sg, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}

// Peek returns up to n records from the head, oldest first, without removing them.
func (s *Spool) Peek(n int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
	err := s.walk(n, func(r Record) { out = append(out, r) }, true)
	return out, err
}

// walk visits up to n records from the head (reading payloads when withPayload).
func (s *Spool) walk(n int, visit func(Record), withPayload bool) error {
	pos, i := s.pos, 0
	for _, sg := range s.segs {
		if sg.seq < pos.seg {
			continue
		}
		off := int64(0)
		if sg.seq == pos.seg {
			off = pos.off
		}
		for off < sg.size && i < n {
			var p []byte
			pp := &p
			if !withPayload {
				pp = nil
			}
			at, size, err := readRecord(sg.f, off, sg.size, pp)
			if err != nil {
				return fmt.Errorf("%w in %s at %d", err, segName(sg.seq), off)
			}
			visit(Record{At: at, Payload: p})
			off += size
			i++
		}
		if i == n {
			break
		}
	}
	return nil
}

// Remove removes the first n records (those a Peek returned and the consumer
// delivered), persists the new head and deletes emptied segments.
func (s *Spool) Remove(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	if n > s.count {
		return fmt.Errorf("spool: remove %d of %d records", n, s.count)
	}
	pos, removed, bytes := s.pos, 0, int64(0)
	for _, sg := range s.segs {
		if sg.seq < pos.seg {
			continue
		}
		if sg.seq > pos.seg {
			pos = position{seg: sg.seq}
		}
		for pos.off < sg.size && removed < n {
			var h [HeaderSize]byte
			if _, err := sg.f.ReadAt(h[:], pos.off); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			size := HeaderSize + int64(binary.LittleEndian.Uint32(h[0:4]))
			pos.off += size
			bytes += size
			removed++
		}
		if removed == n {
			break
		}
	}
	// Whole segments behind the new head go; the head moves to the next segment's start.
	drop := 0
	for drop < len(s.segs) {
		sg := s.segs[drop]
		if sg.seq < pos.seg {
			drop++
			continue
		}
		if sg.seq != pos.seg || pos.off < sg.size {
			break
		}
		if drop+1 < len(s.segs) {
			pos = position{seg: s.segs[drop+1].seq}
		} else if s.count-removed != 0 {
			break // the active segment, still being appended to
		}
		drop++
	}
	if err := s.writeHead(pos); err != nil {
		return err
	}
	s.pos = pos
	s.count -= removed
	s.bytes -= bytes
	for _, sg := range s.segs[:drop] {
		sg.f.Close()
		if err := os.Remove(filepath.Join(s.dir, segName(sg.seq))); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.segs = s.segs[drop:]
			return fmt.Errorf("spool: remove segment: %w", err)
		}
	}
	s.segs = s.segs[drop:]
	s.oldest = time.Time{}
	if s.count > 0 {
		return s.walk(1, func(r Record) { s.oldest = r.At }, false)
	}
	return nil
}

// Stats describes the spool now.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Depth: s.count, Bytes: s.bytes, Oldest: s.oldest, TruncatedBytes: s.truncated, Segments: len(s.segs)}
}

// Len is the number of live records.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Close closes the files and releases the directory. Records stay on disk for the next
// Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.syncLast(), s.closeFiles())
}

func (s *Spool) closeFiles() error {
	var errs []error
	for _, sg := range s.segs {
		errs = append(errs, sg.f.Close())
	}
	s.segs = nil
	if s.head != nil {
		errs = append(errs, s.head.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}
