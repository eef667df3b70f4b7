package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ninesid/nines/internal/store"
)

// verdict is what the read router does after a read failed on a replica.
type verdict int

const (
	// final: the error is the read's answer (success, a domain error, the query's own SQL
	// error, the caller's context ending); return it.
	final verdict = iota
	// failover: the replica cannot serve (connection lost, refused, shutting down); mark
	// it down and run the read on the next replica.
	failover
	// elsewhere: the replica is healthy but cancelled this query (a hot-standby recovery
	// conflict); run the read on the next replica without marking this one down.
	elsewhere
)

// classify decides what a failed read means for the replica it ran on. The rule is
// positive: only errors known to be about the connection or the server's availability
// move a read elsewhere; anything unknown is final, so a bug is never hidden by retries
// and a query that fails everywhere cannot mark every replica down. A fault wrapped as
// store.ErrUnavailable (by sqlstore, for the admin tier) is still this replica's fault.
func classify(ctx context.Context, err error) verdict {
	switch {
	case err == nil, ctx.Err() != nil:
		return final
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyExists),
		errors.Is(err, store.ErrConflict):
		return final
	}
	return fault(err)
}

// fault classifies err by what it says about the server it came from: failover for a
// connection fault, elsewhere for a query the server cancelled but could run again,
// final for anything else (a bare store.ErrUnavailable included: no server named).
func fault(err error) verdict {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return failover // whatever the server said, this replica gave no session
	}
	if pe := pgError(err); pe != nil {
		return classifyServer(pe)
	}
	if connectionLost(err) {
		return failover
	}
	return final
}

// classifyServer classifies an error the server sent on an established session. A
// recovery conflict comes first: "terminating connection due to conflict with recovery"
// is FATAL with SQLSTATE 40001, and the standby that sent it is healthy.
func classifyServer(pe *pgconn.PgError) verdict {
	switch {
	case pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected:
		return elsewhere // on a standby: canceling statement due to conflict with recovery
	case pe.Severity == "FATAL" || pe.Severity == "PANIC":
		return failover // the server ended the session
	}
	switch pe.Code {
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return failover
	case "53300": // too_many_connections
		return failover
	}
	if len(pe.Code) == 5 && pe.Code[:2] == "08" { // connection_exception
		return failover
	}
	return final // classes 22, 23, 42 and the rest are the query's own answer
}

// connectionLost reports the client-side errors of a broken or refused connection.
func connectionLost(err error) bool {
	var ne net.Error
	switch {
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &ne):
		return true
	}
	return false
}

func (v verdict) String() string {
	switch v {
	case final:
		return "final"
	case failover:
		return "failover"
	case elsewhere:
		return "elsewhere"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}
