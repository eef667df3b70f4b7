package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlite"
	"github.com/ninesid/nines/internal/testenv"
)

// TestProvisioningToken: the all role makes a fresh provision-scoped token at every
// start and drops the previous one of the reserved name (and nothing else); a
// configured token is used as is; the login role makes none.
func TestProvisioningToken(t *testing.T) {
	ctx := context.Background()
	b, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nines.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := b.Store()
	// Tokens that must survive: another name, and the reserved name with full rights.
	_, d1 := apitoken.Generate()
	other := must(st.CreateAPIToken(ctx, apitoken.Token{Name: "ci", Scope: apitoken.ScopeProvision, Digest: d1}))(t)
	_, d2 := apitoken.Generate()
	admin := must(st.CreateAPIToken(ctx, apitoken.Token{Name: provisioningTokenName, Digest: d2}))(t)

	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	cfg := config.Config{}
	var first string
	for i := range 3 {
		tok, err := provisioningToken(ctx, cfg, st, true, logger)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		got, err := st.APITokenByDigest(ctx, apitoken.Digest(tok))
		if err != nil || got.Scope != apitoken.ScopeProvision || !got.Global() || got.Name != provisioningTokenName {
			t.Fatalf("start %d: stored token %+v (%v), want a global provision token of the reserved name", i, got, err)
		}
		if i == 0 {
			first = tok
		}
	}
	if _, err := st.APITokenByDigest(ctx, apitoken.Digest(first)); err == nil {
		t.Error("the first start's token still works after two restarts")
	}
	page, err := st.ListAPITokens(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uuid.UUID]bool{}
	managed := 0
	for _, tk := range page.Items {
		ids[tk.ID] = true
		if tk.Name == provisioningTokenName && tk.Scope == apitoken.ScopeProvision {
			managed++
		}
	}
	if managed != 1 || !ids[other.ID] || !ids[admin.ID] || len(page.Items) != 3 {
		t.Errorf("tokens after three starts: %+v; want one managed token plus the two others", page.Items)
	}
	if s := logs.String(); s == "" || strings.Contains(s, first) {
		t.Errorf("log %q: want a line, never the token", s)
	}

	cfg.ProvisioningToken = "configured-provisioning-token-0123456789"
	if tok, err := provisioningToken(ctx, cfg, st, true, logger); err != nil || tok != cfg.ProvisioningToken.Reveal() {
		t.Errorf("configured: %q %v", tok, err)
	}
	if tok, err := provisioningToken(ctx, config.Config{}, st, false, logger); err != nil || tok != "" {
		t.Errorf("login role without the setting: %q %v, want none", tok, err)
	}
	if page, _ := st.ListAPITokens(ctx, store.ListOptions{}); len(page.Items) != 3 {
		t.Errorf("%d tokens after the configured and login cases, want 3 (nothing made)", len(page.Items))
	}
}

func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
