// Package app wires nines together: for each server role one function builds the
// pieces (logger, store, HTTP surfaces, readiness) from a validated config.Config with
// struct literals, runs them, and shuts them down gracefully on context cancellation.
//
// It is wiring only. It must never hold domain rules, SQL or protocol handling (those
// live in the domain, store and surface packages), and it must never log a secret: the
// config is logged through its redacting LogValue, and a generated bootstrap token goes to
// the operator's terminal (stderr), never to the JSON log.
package app
