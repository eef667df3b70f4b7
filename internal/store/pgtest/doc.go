// Package pgtest starts real PostgreSQL 15 clusters for tests: a primary and any number of
// streaming replicas, each a postgres process of the local server binaries
// (/usr/lib/postgresql/15/bin) in a temporary directory, listening on a free loopback port.
// A cluster starts in about a second; Cluster.NewDatabase gives each test a fresh database
// cloned from a migrated template, so a suite pays initdb once per package, not per test.
//
// Settings trade durability for speed (fsync, synchronous_commit and full_page_writes are
// off): a cluster is for tests only and must never hold data anyone wants to keep.
//
// Rules the package keeps:
//   - it never skips: missing binaries fail the test with the install instruction;
//   - it never leaves a process behind: every postgres it starts is stopped by Close (or
//     t.Cleanup), and dies with the test binary (parent-death signal) if that crashes;
//   - it listens on 127.0.0.1 only and trusts every local connection, so it must never be
//     pointed at a non-loopback address;
//   - when the test runs as root it runs initdb, postgres, cp and touch as the postgres
//     system user (initdb refuses root), in directories that user owns;
//   - a killed test process leaves its directory behind (on /dev/shm: memory); the next
//     cluster started in the same base directory removes it, as the directory names the
//     pid of its owner.
package pgtest
