// Package changes tells the login tier, at once, that an admin write changed something it
// caches (ARCHITECTURE.md §2: the login tier reads replicas; issue 4 item 8).
//
// A Change names a tenant, a Kind ("keys": the tenant's signing keys were replaced) and
// the new version or generation the write produced. The admin tier publishes it after
// the write has committed, as one core NATS message (JSON, at most MaxMessageBytes) on
// "<prefix>.changes.<kind>"; every login process subscribes to "<prefix>.changes.>" and
// hands each change to the handler of its kind.
//
// Notifications are best effort, by design: core NATS keeps nothing for a subscriber
// that is disconnected, a publish may fail, and a change can arrive before the replica
// the login tier reads shows the write. None of that is an error anyone sees: a failed
// publish is logged and counted and never fails the admin write, and every login-side
// cache is still bounded by its TTL. A change only shortens the wait. So a handler must
// check the store for the version it was told about (and retry, bounded), never trust
// the message for data: a change carries no entity data, only "look again".
//
// The subscriber decodes strictly: a message larger than MaxMessageBytes, that is not
// one JSON object, repeats a member, lacks the tenant or the kind, names a kind other
// than its subject's, or holds a negative or fractional version is dropped and counted.
// A kind this process has no handler for is dropped and counted; members it does not
// know are ignored and counted, and the change is still handled (a newer version of
// nines may add members during a rolling upgrade).
//
// This package must never carry entity data or secrets in a change, never block an
// admin write on the broker, and never make a login process depend on a change
// arriving.
package changes
