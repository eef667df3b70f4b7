package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"time"
)

// readRecord reads the record at off of f (whose complete records end at end),
// verifying it. With payload nil it reads the payload only to check it; otherwise the
// payload is appended to *payload.
func readRecord(f *os.File, off, end int64, payload *[]byte) (at time.Time, size int64, err error) {
	var h [HeaderSize]byte
	if end-off < HeaderSize {
		return time.Time{}, 0, ErrCorrupt
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return time.Time{}, 0, fmt.Errorf("spool: %w", err)
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if n > hardMaxRecord || int64(n) > end-off-HeaderSize {
		return time.Time{}, 0, ErrCorrupt
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off+HeaderSize); err != nil {
		return time.Time{}, 0, fmt.Errorf("spool: %w", err)
	}
	sum := crc32.Update(crc32.Checksum(h[0:4], castagnoli), castagnoli, h[8:16])
	if crc32.Update(sum, castagnoli, buf) != binary.LittleEndian.Uint32(h[4:8]) {
		return time.Time{}, 0, ErrCorrupt
	}
	if payload != nil {
		*payload = buf
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(h[8:16]))), HeaderSize + int64(n), nil
}

func encodeRecord(p []byte, at time.Time) []byte {
	b := make([]byte, HeaderSize+len(p))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(p)))
	binary.LittleEndian.PutUint64(b[8:16], uint64(at.UnixNano()))
	copy(b[HeaderSize:], p)
	sum := crc32.Update(crc32.Checksum(b[0:4], castagnoli), castagnoli, b[8:])
	binary.LittleEndian.PutUint32(b[4:8], sum)
	return b
}
