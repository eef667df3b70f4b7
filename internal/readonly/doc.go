// Package readonly is the admin tier's read-only mode (ARCHITECTURE.md §1, §6): while it
// is on, admin writes are refused with 503 and Retry-After and admin reads are served
// from a replica; the login tier is not affected.
//
// The mode is on when an operator switched it on (explicit: who, when, why) or when the
// primary database has been unreachable for EnterAfter (automatic). Automatic mode ends
// only after the primary has been healthy for LeaveAfter without a break, so a primary
// that flaps does not flap the mode.
//
// The explicit switch must hold for every admin process of a deployment, so with NATS it
// lives in a KV bucket (ControlBucket, key SwitchKey) that every process polls; without
// NATS it lives in this process's memory only. This package must never touch the
// entity store: it learns the primary's health from a func the wiring hands it.
package readonly
