package oidc

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

// TestMain silences zitadel/oidc, which logs through the global slog default.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}
