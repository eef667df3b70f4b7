// Package sqlstore is the one SQL implementation of nines' entity store, shared by the
// SQLite and PostgreSQL backends (which open the databases, run their own migrations and
// supply a Dialect). Both dialects accept $1-style placeholders, so every query is written
// once; the Dialect covers what really differs (error codes, time and JSON encoding).
//
// Two types make the tier split visible:
//
//   - *Store is the primary: every read and write, used by the admin tier and workers.
//     Reads on it are read-after-write consistent.
//   - *Reader has read methods only and runs them through a ReadRouter (the replicas, or
//     the primary on the embedded default). It is what the login tier is handed; it has
//     no method that writes, so login code cannot write the entity store even by mistake.
//
// Signing keys are stored sealed (keys.Key.Sealed): the store never sees a private key in
// clear and never needs the KEK. A tenant's key set changes only in one transaction that
// first locks the tenant's row (CreateTenantWithKeys, RotateSigningKeys,
// CompleteSigningKeys), so concurrent rotations cannot leave a broken set.
//
// Every method that touches a tenant's data takes the tenant ID explicitly and puts it in
// the WHERE clause; an entity of another tenant is reported as store.ErrNotFound.
package sqlstore
