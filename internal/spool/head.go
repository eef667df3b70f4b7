package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// HEAD holds two slots of headSlot bytes: [writes uint64][segment uint64][offset
// uint64][zero uint32][CRC-32C uint32 of the 28 bytes before]. Each write goes to the
// slot the previous one did not use; Open takes the valid slot with the most writes.
const headSlot = 32

// openHead opens HEAD, creating it, and reads the head position (segment 0, offset 0
// when neither slot is valid: the spool then starts at its first segment).
func (s *Spool) openHead() error {
	path := filepath.Join(s.dir, "HEAD")
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.head = f
	if os.IsNotExist(statErr) {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	var buf [2 * headSlot]byte
	n, _ := f.ReadAt(buf[:], 0)
	for i := 0; i < 2; i++ {
		if n < (i+1)*headSlot {
			break
		}
		b := buf[i*headSlot : (i+1)*headSlot]
		if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:32]) {
			continue
		}
		if w := binary.LittleEndian.Uint64(b[0:8]); w >= s.headCount {
			s.headCount = w
			s.pos = position{seg: binary.LittleEndian.Uint64(b[8:16]), off: int64(binary.LittleEndian.Uint64(b[16:24]))}
		}
	}
	return nil
}

// writeHead persists pos in the next slot and fsyncs it.
func (s *Spool) writeHead(pos position) error {
	var b [headSlot]byte
	w := s.headCount + 1
	binary.LittleEndian.PutUint64(b[0:8], w)
	binary.LittleEndian.PutUint64(b[8:16], pos.seg)
	binary.LittleEndian.PutUint64(b[16:24], uint64(pos.off))
	binary.LittleEndian.PutUint32(b[28:32], crc32.Checksum(b[:28], castagnoli))
	if _, err := s.head.WriteAt(b[:], int64(w%2)*headSlot); err != nil {
		return fmt.Errorf("spool: write head: %w", err)
	}
	if err := s.head.Sync(); err != nil {
		return fmt.Errorf("spool: sync head: %w", err)
	}
	s.headCount = w
	return nil
}
