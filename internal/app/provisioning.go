package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store"
)

// provisioningTokenName names the provision-scoped token the all role makes for its own
// login surface when NINES_PROVISIONING_TOKEN is not set. The name is reserved: every
// start replaces the tokens of that name and scope, so restarts do not pile them up.
const provisioningTokenName = "login-provisioning (managed by nines serve --role=all)"

// provisioningStore is what ensureProvisioningToken uses of the store.
type provisioningStore interface {
	CreateAPIToken(ctx context.Context, t apitoken.Token) (apitoken.Token, error)
	ListAPITokens(ctx context.Context, opts store.ListOptions) (store.Page[apitoken.Token], error)
	DeleteAPIToken(ctx context.Context, id uuid.UUID) error
}

// provisioningToken is the credential of the login surface's just-in-time provisioning
// (ARCHITECTURE §3.3). The configured NINES_PROVISIONING_TOKEN wins. Otherwise a process
// that serves the admin API too (the all role) makes a fresh global provision-scoped
// token, replacing the previous one of the reserved name, and hands it over in memory:
// it is never printed, logged or saved. A process without the admin API (the login role)
// gets "": its imports fail with an error log naming the setting, and sign-in works.
//
// Several all-role processes on one database replace each other's token at start; such
// a deployment sets NINES_PROVISIONING_TOKEN instead.
func provisioningToken(ctx context.Context, cfg config.Config, st provisioningStore, admin bool, logger *slog.Logger) (string, error) {
	if tok := cfg.ProvisioningToken.Reveal(); tok != "" || !admin {
		return tok, nil
	}
	replaced, err := dropManagedProvisioningTokens(ctx, st)
	if err != nil {
		return "", err
	}
	tok, digest := apitoken.Generate()
	t, err := st.CreateAPIToken(ctx, apitoken.Token{Name: provisioningTokenName, Scope: apitoken.ScopeProvision, Digest: digest})
	if err != nil {
		return "", fmt.Errorf("create the login surface's provisioning token: %w", err)
	}
	logger.Info("provisioning token for just-in-time sign-up created (scope provision, kept in memory)",
		"token_id", t.ID.String(), "replaced", replaced)
	return tok, nil
}

// dropManagedProvisioningTokens deletes the global provision-scoped tokens of the
// reserved name and returns how many it deleted.
func dropManagedProvisioningTokens(ctx context.Context, st provisioningStore) (int, error) {
	var stale []uuid.UUID
	opts := store.ListOptions{Limit: store.MaxLimit}
	for page := 0; ; page++ {
		if page == maxTokenPages {
			return 0, fmt.Errorf("list admin tokens: more than %d pages", maxTokenPages)
		}
		p, err := st.ListAPITokens(ctx, opts)
		if err != nil {
			return 0, fmt.Errorf("list admin tokens: %w", err)
		}
		for _, t := range p.Items {
			if t.Name == provisioningTokenName && t.Scope == apitoken.ScopeProvision && t.Global() {
				stale = append(stale, t.ID)
			}
		}
		if p.Next == uuid.Nil {
			break
		}
		opts.After = p.Next
	}
	for _, id := range stale {
		if err := st.DeleteAPIToken(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("delete the previous provisioning token: %w", err)
		}
	}
	return len(stale), nil
}
