// Package command is the schema of the asynchronous commands the login tier publishes
// and the worker applies on the primary (ARCHITECTURE.md §3): a versioned envelope
// (Command) around one typed payload per (type, version).
//
// It is the contract between internal/bus (the publisher and its spool) and
// internal/worker (the consumer). It is pure: no I/O, no broker, no store.
//
// Rules of the schema:
//   - Command.ID is a UUIDv7 in canonical form. It is the idempotency key: the
//     Nats-Msg-Id header of every publication of the command (the broker's dedupe window)
//     and the key the worker records in the same transaction that applies the command
//     (the dedupe record that makes redeliveries, and re-sends after the window,
//     harmless).
//   - A payload never changes once released: a new field, a removed field or a changed
//     meaning is a new Version of the type. Decoding is strict (unknown fields are
//     errors), so a worker never half-applies a command it does not understand; Decode
//     reports unknown types and versions as ErrUnknownType / ErrUnknownVersion (both
//     ErrInvalid), which the worker dead-letters. Deploy workers that know a version
//     before publishers that send it (expand/contract).
//   - Commands carry no secret a log may show: the password hash of
//     user.password_rehashed is redacted by String, GoString and LogValue, and
//     Command's own String/LogValue never print Data. user.sign_in_failed carries the
//     user ID when the account is known and a digest of the source, never the name typed
//     or the password.
//
// This package must never import a store, the broker client or an HTTP package.
package command
