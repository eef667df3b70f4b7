// Package event holds the audit and sign-in events that the worker writes to the events
// table on the primary (ARCHITECTURE §2, class "events"), and the filter the admin API
// lists them with. It is a domain package: no SQL, no HTTP, no broker.
//
// An event's Data is JSON chosen by the writer; it must never hold a secret (a password,
// a hash, a token, a raw client address): the admin API shows it as stored.
package event
