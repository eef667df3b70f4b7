package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ninesid/nines/internal/store"
)

func TestClassify(t *testing.T) {
	pg := func(severity, code string) error { return &pgconn.PgError{Severity: severity, Code: code} }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want verdict
	}{
		{"success", nil, nil, final},
		{"not found", nil, fmt.Errorf("user: %w", store.ErrNotFound), final},
		{"already exists", nil, store.AlreadyExists("username"), final},
		{"conflict", nil, store.ErrConflict, final},
		{"unavailable", nil, store.ErrUnavailable, final},
		{"no rows", nil, sql.ErrNoRows, final},
		{"unknown error", nil, errors.New("scan: bad column"), final},
		{"22 data exception", nil, pg("ERROR", "22012"), final},
		{"23 integrity", nil, pg("ERROR", "23505"), final},
		{"42 undefined table", nil, pg("ERROR", "42P01"), final},
		{"XX internal error", nil, pg("ERROR", "XX000"), final},
		{"statement timeout", nil, pg("ERROR", "57014"), final},
		{"admin shutdown", nil, pg("FATAL", "57P01"), failover},
		{"crash shutdown", nil, pg("FATAL", "57P02"), failover},
		{"starting up", nil, pg("FATAL", "57P03"), failover},
		{"too many connections", nil, pg("FATAL", "53300"), failover},
		{"connection exception", nil, pg("ERROR", "08006"), failover},
		{"any FATAL ends the session", nil, pg("FATAL", "3D000"), failover},
		{"recovery conflict", nil, pg("ERROR", "40001"), elsewhere},
		{"recovery conflict terminating the session", nil, pg("FATAL", "40001"), elsewhere},
		{"deadlock, FATAL", nil, pg("FATAL", "40P01"), elsewhere},
		{"fault wrapped as unavailable by sqlstore", nil, fmt.Errorf("sqlstore: user: %w: %w", store.ErrUnavailable, io.EOF), failover},
		{"FATAL wrapped as unavailable", nil, fmt.Errorf("sqlstore: user: %w: %w", store.ErrUnavailable, pg("FATAL", "57P01")), failover},
		{"deadlock", nil, pg("ERROR", "40P01"), elsewhere},
		{"refused connect", nil, connectError(t), failover},
		{"EOF", nil, fmt.Errorf("read: %w", io.EOF), failover},
		{"unexpected EOF", nil, io.ErrUnexpectedEOF, failover},
		{"bad conn", nil, driver.ErrBadConn, failover},
		{"conn done", nil, sql.ErrConnDone, failover},
		{"conn closed", nil, pgconn.ErrConnClosed, failover},
		{"reset", nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, failover},
		{"broken pipe", nil, fmt.Errorf("write: %w", syscall.EPIPE), failover},
		{"caller canceled", canceled, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, final},
		{"caller canceled, FATAL", canceled, pg("FATAL", "57P01"), final},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if got := classify(ctx, tt.err); got != tt.want {
				t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// connectError is what pgx returns for a refused connection (port 1 on loopback).
func connectError(t *testing.T) error {
	t.Helper()
	conn, err := pgconn.Connect(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=5")
	if err == nil {
		conn.Close(t.Context())
		t.Fatal("connected to 127.0.0.1:1")
	}
	return err
}

// TestUnavailable: the Dialect calls unavailable what the router fails over on, and
// nothing that is the statement's own answer or the caller giving up.
func TestUnavailable(t *testing.T) {
	pg := func(severity, code string) error { return &pgconn.PgError{Severity: severity, Code: code} }
	refused := connectError(t)
	connectTimeout := silentConnect(t)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused connect", refused, true},
		{"refused connect, wrapped", fmt.Errorf("sqlstore: begin: %w", refused), true},
		{"deadline on connect", connectTimeout, true},
		{"admin shutdown", pg("FATAL", "57P01"), true},
		{"crash shutdown", pg("FATAL", "57P02"), true},
		{"starting up", pg("FATAL", "57P03"), true},
		{"connection exception", pg("ERROR", "08006"), true},
		{"too many connections", pg("FATAL", "53300"), true},
		{"EOF", io.ErrUnexpectedEOF, true},
		{"conn closed", pgconn.ErrConnClosed, true},
		{"bad conn", driver.ErrBadConn, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"recovery conflict", pg("FATAL", "40001"), false},
		{"serialization failure", pg("ERROR", "40001"), false},
		{"unique violation", pg("ERROR", "23505"), false},
		{"undefined table", pg("ERROR", "42P01"), false},
		{"statement timeout", pg("ERROR", "57014"), false},
		{"no rows", sql.ErrNoRows, false},
		{"caller's deadline mid-query", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"caller cancelled", context.Canceled, false},
		{"unknown", errors.New("scan: bad column"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Dialect{}).Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// silentConnect is what pgx returns when the server accepts the connection but never
// answers until the context's deadline: a listener that says nothing.
func silentConnect(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://nobody@%s/none?sslmode=disable", l.Addr()))
	if err == nil {
		conn.Close(t.Context())
		t.Fatal("connected to a listener that never answers")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connect to a silent listener: %v, want a deadline error", err)
	}
	return err
}
