// Package bus carries the login tier's asynchronous commands (internal/command) to the
// worker over NATS JetStream (ARCHITECTURE.md §3, §6 "broker down"), with a local
// spool for when the broker does not answer.
//
// The stream: EnsureStream creates "<prefix>_commands" on subjects "<prefix>.cmd.>", a
// work queue on file storage, deduplicating Nats-Msg-Id for DuplicateWindow (10 min),
// bounded by MaxBytes with DiscardNew and no age limit. The worker consumes it (one
// durable consumer, explicit acks) and must be idempotent: it records each command's ID
// in the transaction that applies it, because the Nats-Msg-Id dedupe only covers
// publisher retries within the window, not redeliveries (research/libraries.md C5).
//
// Publishing: Publisher.Publish sends a command with Nats-Msg-Id = Command.ID and waits
// for the PubAck (the durability point; the embedded server fsyncs every write) for at
// most AckTimeout (2 s). When the broker fails (no responders, timeout, disconnected,
// JetStream unavailable, the stream full or missing), the command is appended to the
// spool (internal/spool: fsync'd, checksummed, crash-safe) and Publish returns nil: a
// sign-in is never failed for a command that could be spooled. While the spool holds
// anything, new commands are spooled behind it, so they reach the stream in the order
// they were issued. The flusher (Start) publishes the spool's records in order, each
// waiting for its PubAck, and removes them in batches once acknowledged; it retries
// with backoff (250 ms doubling to 5 s) for as long as the broker does not answer and
// never drops a command for that. A crash between a PubAck and the removal sends those
// records again: the stream drops them as duplicates within the window, and the
// worker's dedupe record makes any later copy harmless. None is lost; none is applied
// twice.
//
// When the spool is full (64 MiB or 262,144 commands by default, per login process),
// each command type has a policy (PolicyFor):
//
//	user.signed_in          dropped: last sign-in time is best effort, the next
//	                        sign-in writes it again. The sign-in succeeds.
//	user.password_rehashed  dropped: the stored hash still verifies, and the next
//	                        sign-in computes the stronger one again. The sign-in succeeds.
//	user.sign_in_failed     fails the request (ErrSpoolFull): an attempt that cannot be
//	                        audited is not evaluated; the user sees a temporary error,
//	                        which costs no legitimate sign-in.
//	audit.event             fails the request (ErrSpoolFull): an action that cannot be
//	                        audited is not done.
//	any other type          fails the request (a new type is never silently lost).
//
// Dropped commands stop at 75% of the spool: the last quarter (the reserve) is kept for
// the commands that fail the request, so a flood of sign-ins cannot crowd out the audit
// trail. Every drop and refusal is counted (Stats.Dropped, Stats.Refused); drops log a
// warning at most every 10 s. Today's login tier issues only the two dropped types
// (Recorder), so a full spool never fails a sign-in.
//
// This package must never log a command's data (Command's LogValue has none), never
// fail a request for a command it could spool, and never remove a spooled command
// before its PubAck.
package bus
