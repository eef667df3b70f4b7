package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store"
)

// tokenStore is what the bootstrap step uses of the store.
type tokenStore interface {
	CreateAPIToken(ctx context.Context, t apitoken.Token) (apitoken.Token, error)
	APITokenByDigest(ctx context.Context, digest []byte) (apitoken.Token, error)
	ListAPITokens(ctx context.Context, opts store.ListOptions) (store.Page[apitoken.Token], error)
}

// bootstrapName names the token the bootstrap step creates.
const bootstrapName = "bootstrap"

// maxTokenPages bounds the scan for a global token (500 tokens a page).
const maxTokenPages = 1000

type bootstrap struct {
	st       tokenStore
	token    config.Secret // configured token; empty: generate one if no global token exists
	file     string        // where a generated token is saved; "": not saved
	adminURL string
	console  io.Writer
}

// ensure makes sure an operator can reach the admin API: the configured token exists as
// a global token, or, when none is configured and no global admin-scoped token exists, a new
// one is generated, saved to the file (0600) and printed once to the console. The JSON
// log only ever says that it happened.
func (b bootstrap) ensure(ctx context.Context) (created bool, err error) {
	if tok := b.token.Reveal(); tok != "" {
		return b.ensureConfigured(ctx, tok)
	}
	exists, err := b.globalTokenExists(ctx)
	if err != nil || exists {
		return false, err
	}
	tok, digest := apitoken.Generate()
	if _, err := b.st.CreateAPIToken(ctx, apitoken.Token{Name: bootstrapName, Digest: digest}); err != nil {
		return false, fmt.Errorf("create bootstrap admin token: %w", err)
	}
	saved := ""
	if b.file != "" {
		if err := writeSecretFile(b.file, tok+"\n"); err != nil {
			fmt.Fprintf(b.console, "nines: could not save the bootstrap admin token to %s: %v\n", b.file, err)
		} else {
			saved = b.file
		}
	}
	b.print(tok, saved)
	return true, nil
}

func (b bootstrap) ensureConfigured(ctx context.Context, tok string) (bool, error) {
	digest := apitoken.Digest(tok)
	t, err := b.st.APITokenByDigest(ctx, digest)
	switch {
	case err == nil && !t.Global():
		return false, errors.New("NINES_BOOTSTRAP_ADMIN_TOKEN is already stored as a tenant-scoped token; choose another value")
	case err == nil && !fullRights(t):
		return false, errors.New("NINES_BOOTSTRAP_ADMIN_TOKEN is already stored as a provision-scoped token; choose another value")
	case err == nil:
		return false, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, fmt.Errorf("look up bootstrap admin token: %w", err)
	}
	_, err = b.st.CreateAPIToken(ctx, apitoken.Token{Name: bootstrapName, Digest: digest})
	if errors.Is(err, store.ErrAlreadyExists) { // another replica created it first
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create bootstrap admin token: %w", err)
	}
	return true, nil
}

func (b bootstrap) globalTokenExists(ctx context.Context) (bool, error) {
	opts := store.ListOptions{Limit: store.MaxLimit}
	for range maxTokenPages {
		page, err := b.st.ListAPITokens(ctx, opts)
		if err != nil {
			return false, fmt.Errorf("list admin tokens: %w", err)
		}
		for _, t := range page.Items {
			if t.Global() && fullRights(t) {
				return true, nil
			}
		}
		if page.Next == uuid.Nil {
			return false, nil
		}
		opts.After = page.Next
	}
	return false, fmt.Errorf("list admin tokens: more than %d pages", maxTokenPages)
}

// fullRights reports whether t is not limited to a narrower scope: a provision-scoped
// global token (the login tier's) lets no operator in, so it does not count.
func fullRights(t apitoken.Token) bool { return t.Scope == "" || t.Scope == apitoken.ScopeAdmin }

func (b bootstrap) print(tok, savedTo string) {
	w := b.console
	fmt.Fprintf(w, "\nnines: no admin API token existed, so one was created. It is shown only this once:\n\n")
	fmt.Fprintf(w, "    %s\n\n", tok)
	fmt.Fprintf(w, "  Admin API: %s\n", b.adminURL)
	if savedTo != "" {
		fmt.Fprintf(w, "  Also saved to %s (mode 0600); delete that file once the token is stored somewhere safe.\n", savedTo)
	}
	fmt.Fprintf(w, "  Try: curl -H \"Authorization: Bearer <token>\" %stenants\n\n", b.adminURL)
}

// writeSecretFile writes content to path with mode 0600, replacing any older file.
func writeSecretFile(path, content string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600) // in case an older tmp file had another mode
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
