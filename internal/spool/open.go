package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Open opens (creating) the spool in dir, recovers it (see the package comment) and
// locks the directory until Close.
func Open(dir string, o Options) (_ *Spool, err error) {
	o.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, o: o}
	if s.lock, err = lockDir(filepath.Join(dir, "LOCK")); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeFiles()
		}
	}()
	if err := s.openHead(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func segName(seq uint64) string { return fmt.Sprintf("seg-%020d.log", seq) }

// listSegments returns the segment sequence numbers in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var seqs []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "seg-") || !strings.HasSuffix(n, ".log") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "seg-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// recover opens the segments from the head on, deletes those before it, and verifies
// every record, truncating each segment at its first bad record.
func (s *Spool) recover() error {
	seqs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	s.nextSeq = s.pos.seg + 1
	for _, seq := range seqs {
		if seq < s.pos.seg {
			if err := os.Remove(filepath.Join(s.dir, segName(seq))); err != nil {
				return fmt.Errorf("spool: remove consumed segment: %w", err)
			}
			continue
		}
		f, err := os.OpenFile(filepath.Join(s.dir, segName(seq)), os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		sg := &segment{seq: seq, f: f}
		s.segs = append(s.segs, sg)
		s.nextSeq = max(s.nextSeq, seq+1)
		start := int64(0)
		if seq == s.pos.seg {
			start = s.pos.off
		}
		if err := s.scan(sg, start); err != nil {
			return err
		}
	}
	if len(s.segs) == 0 || s.segs[0].seq != s.pos.seg {
		// The head's segment is gone (it was emptied and deleted): start at the next.
		s.pos = position{seg: s.nextSeq}
		if len(s.segs) > 0 {
			s.pos = position{seg: s.segs[0].seq}
		}
	} else if s.pos.off > s.segs[0].size {
		s.pos.off = s.segs[0].size
	}
	return nil
}

// scan verifies sg's records from start, counts them, and truncates sg at the first bad
// one. A start beyond the file's end (the disk lost data) counts nothing.
func (s *Spool) scan(sg *segment, start int64) error {
	fi, err := sg.f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	end := fi.Size()
	off := start
	for off < end {
		at, n, err := readRecord(sg.f, off, end, nil)
		if errors.Is(err, ErrCorrupt) {
			break // a torn or corrupt tail
		}
		if err != nil {
			return err // an I/O error says nothing about the records: keep them
		}
		if s.count == 0 {
			s.oldest = at
		}
		s.count++
		s.bytes += n
		off += n
	}
	sg.size = max(off, start)
	if off < end {
		s.truncated += end - off
		if err := sg.f.Truncate(off); err != nil {
			return fmt.Errorf("spool: truncate torn tail of %s: %w", segName(sg.seq), err)
		}
		if err := sg.f.Sync(); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		sg.size = off
	}
	return nil
}
