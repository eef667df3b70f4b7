// Package worker is the worker role's consumer (ARCHITECTURE §1, §3): it takes the
// commands the login tier publishes to the JetStream work-queue stream "<prefix>_commands"
// and applies each on the primary, exactly once in effect.
//
// Delivery is at least once (research/libraries.md C5): a command may arrive twice,
// after a crash, an AckWait expiry or a replay. Each is applied through
// Applier.ApplyCommand, which records the command's ID in the same transaction as its
// effect, so a repeat finds the record and changes nothing; the message is acknowledged
// (DoubleAck) only after that transaction committed.
//
// Two kinds of failure are kept apart. An infrastructure failure (store.ErrUnavailable,
// an attempt out of time) says nothing about the command, so it never counts toward
// dead-lettering: the worker opens its circuit — it stops pulling, holds the message
// (and those already pulled behind it), extends their AckWait with InProgress, and
// retries in place with backoff until the store answers or the worker stops (then the
// held messages go back to the broker unacknowledged). A primary outage of any length
// therefore ends with every command applied once. An application failure (a command
// that cannot be decoded, that can never apply because its tenant or user is gone, or
// whose effect fails) is Nak'ed with backoff, and one that failed MaxDeliver times —
// or cannot ever apply — is copied to the dead-letter stream "<prefix>_deadletters"
// with the error and the delivery count in headers, logged, counted, and then
// acknowledged. DLQ lists those and replays one.
//
// The worker must never log a command's data (user.password_rehashed carries a password
// hash): logs name the command by ID, type and tenant only.
package worker
