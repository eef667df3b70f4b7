// Package postgres is the production entity store: a PostgreSQL primary for every write
// and admin read, and streaming replicas for the login tier's reads, behind the shared
// sqlstore implementation. It opens one pgx pool per server (exposed to sqlstore as
// *sql.DB), supplies the PostgreSQL Dialect, runs the goose migrations under an advisory
// lock, and routes Reader calls over the healthy replicas. A background prober checks
// every server, the primary included, so Health never waits on a database.
//
// Rules the package keeps:
//   - the login tier must never read the primary: with no healthy replica, a read fails
//     with store.ErrUnavailable unless the caller opted into Options.PrimaryFallback, and
//     Open refuses a backend without replicas that has not opted in;
//   - a replica must be a standby (pg_is_in_recovery()): a server that is not is down,
//     with the reason in Health and the log, and serves no read;
//   - a primary that cannot serve (refused, lost, shutting down) makes the Store return
//     store.ErrUnavailable, through the Dialect's Unavailable, so the admin tier says 503;
//   - a replica that fails a read with a connection fault is skipped at once and the
//     read runs again on the next one, so losing a replica costs no failed read; domain
//     errors and the query's own SQL errors are never retried elsewhere;
//   - it never uses pgx's simple protocol (CVE-2026-41889: SQL injection through
//     dollar-quoted literals); a URL asking for it is refused;
//   - no password ever reaches a log line, an error it returns or a health report;
//   - it holds no SQL of the entities: that lives in sqlstore, shared with SQLite.
package postgres
