// Package worker is the worker role's consumer (ARCHITECTURE §1, §3): it takes the
// commands the login tier publishes to the JetStream work-queue stream "<prefix>_commands"
// and applies each on the primary, exactly once in effect.
//
// Delivery is at least once (research/libraries.md C5): a command may arrive twice,
// after a crash, an AckWait expiry or a replay. Each is applied through
// Applier.ApplyCommand, which records the command's ID in the same transaction as its
// effect, so a repeat finds the record and changes nothing; the message is acknowledged
// (DoubleAck) only after that transaction committed. A transient store failure
// (store.ErrUnavailable) is retried with the configured backoff; a command that cannot
// be decoded, that can never apply (its tenant or user is gone), or that failed
// MaxDeliver times is copied to the dead-letter stream "<prefix>_deadletters" with the
// error and the delivery count in headers, logged, counted, and then acknowledged. DLQ
// lists those and replays one.
//
// The worker must never log a command's data (user.password_rehashed carries a password
// hash): logs name the command by ID, type and tenant only.
package worker
