package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestDialectErrors(t *testing.T) {
	pg := func(code, constraint string) error { return &pgconn.PgError{Code: code, ConstraintName: constraint} }
	tests := []struct {
		name       string
		err        error
		constraint string
		unique     bool
		fk         bool
		retryable  bool
	}{
		{"nil", nil, "", false, false, false},
		{"plain error", errors.New("boom"), "", false, false, false},
		{"unique", pg("23505", "users_username_key"), "users_username_key", true, false, false},
		{"unique wrapped", fmt.Errorf("insert: %w", pg("23505", "tenants_slug_key")), "tenants_slug_key", true, false, false},
		{"foreign key", pg("23503", "users_tenant_id_fkey"), "", false, true, false},
		{"not null is neither", pg("23502", "users_username"), "", false, false, false},
		{"serialization failure", pg("40001", ""), "", false, false, true},
		{"deadlock", fmt.Errorf("tx: %w", pg("40P01", "")), "", false, false, true},
		{"lock not available is not retried", pg("55P03", ""), "", false, false, false},
	}
	var d Dialect
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := d.UniqueViolation(tt.err)
			if c != tt.constraint || ok != tt.unique {
				t.Errorf("UniqueViolation = %q, %v; want %q, %v", c, ok, tt.constraint, tt.unique)
			}
			if got := d.ForeignKeyViolation(tt.err); got != tt.fk {
				t.Errorf("ForeignKeyViolation = %v, want %v", got, tt.fk)
			}
			if got := d.Retryable(tt.err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
		})
	}
}

func TestDialectTime(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 21, 17, 0, 0, 123456000, paris)
	tests := []struct {
		name    string
		src     any
		want    time.Time
		wantErr bool
	}{
		{"time.Time becomes UTC", at, at.UTC(), false},
		{"string refused", "2026-11-21", time.Time{}, true},
		{"int64 refused", int64(1), time.Time{}, true},
	}
	var d Dialect
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ScanTime(tt.src)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) || (err == nil && got.Location() != time.UTC) {
				t.Errorf("ScanTime(%v) = %v, %v; want %v (UTC), error %v", tt.src, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if got := d.Time(at); got != any(at) {
		t.Errorf("Time(%v) = %v, want it unchanged", at, got)
	}
}
