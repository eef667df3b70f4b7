// Package storetest is the conformance suite every entity-store backend must pass: CRUD,
// not-found and already-exists for every unique key, optimistic concurrency under real
// concurrency, pagination, cascades, the Reader, and the cross-tenant suite, which
// repeats every tenant-scoped method from a second tenant and proves the first tenant's
// data is invisible and unchanged.
//
// Backends call Run from their tests with a function that opens a fresh, migrated,
// empty store. The suite must never depend on one dialect (no SQL here, no driver
// imports), never skip, and never assert on elapsed time.
package storetest
