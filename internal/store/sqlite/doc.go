// Package sqlite is the embedded-default entity store: one SQLite file (modernc.org/sqlite,
// pure Go) behind the shared sqlstore implementation, with its own goose migrations.
//
// It opens the file twice: a write pool of exactly one connection (SQLite allows one
// writer at a time; one connection means writers queue in Go instead of failing with
// SQLITE_BUSY) and a small read-only pool (PRAGMA query_only) that serves the Reader, so
// that login reads never wait behind a write (WAL mode).
//
// This package must never create directories or files other than the database (and its
// WAL and shared-memory files), and must never hold its own queries: all SQL of the
// entities lives in sqlstore, so SQLite and PostgreSQL behave the same.
package sqlite
