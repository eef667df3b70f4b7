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
