// Package spool is a bounded, crash-safe, first-in first-out queue of records on local
// disk: where the login tier keeps the commands it could not publish while the broker
// was unreachable (ARCHITECTURE.md §3), until internal/bus flushes them in order.
//
// Layout of a spool directory:
//   - seg-<20-digit sequence>.log: append-only segment files. A record is
//     [length uint32][CRC-32C uint32][appended-at int64 Unix ns][payload], little endian;
//     the CRC (Castagnoli) covers the length, the time and the payload. A segment is
//     closed for appends at Options.SegmentBytes and deleted once every record in it
//     has been removed.
//   - HEAD: the position of the first record not yet removed, in two checksummed slots
//     written alternately, so that a torn write of one leaves the other.
//   - LOCK: an advisory lock (flock) so that two processes never share a spool.
//
// Durability: Append returns only after the record and the segment are fsync'd (and
// the directory, when the record opened a new segment). Concurrent appends share an
// fsync (group commit), so the spool's rate grows with the number of writers. Remove fsyncs HEAD before it
// deletes segment files. On Open, every segment is read from the head on; the first
// record that is short (a torn write) or fails its checksum ends its segment, which is
// truncated there: every complete record before it survives. Stats.TruncatedBytes says
// how much was cut.
//
// Delivery is at least once: a crash after a record was delivered but before Remove
// persisted the head delivers it again after the restart. The consumer (the broker's
// Nats-Msg-Id dedupe and the worker's dedupe record) makes that harmless.
//
// Bounds: live records take at most Options.MaxBytes (headers included) and
// Options.MaxRecords; the disk holds at most one more segment of removed records. A
// Normal-priority append is refused (ErrFull) once the spool is within the reserve
// (ReserveBytes, ReserveRecords) of its bounds; a High-priority one may use the reserve.
//
// The spool knows nothing of commands; it must never log or interpret payloads.
package spool
