package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/store"
)

// fakeTokens is an in-memory tokenStore with pages of pageSize.
type fakeTokens struct {
	tokens   []apitoken.Token
	pageSize int
}

func (f *fakeTokens) CreateAPIToken(_ context.Context, t apitoken.Token) (apitoken.Token, error) {
	for _, e := range f.tokens {
		if bytes.Equal(e.Digest, t.Digest) {
			return apitoken.Token{}, store.AlreadyExists("digest")
		}
	}
	t.ID = uuid.Must(uuid.NewV7())
	f.tokens = append(f.tokens, t)
	return t, nil
}

func (f *fakeTokens) APITokenByDigest(_ context.Context, d []byte) (apitoken.Token, error) {
	for _, e := range f.tokens {
		if bytes.Equal(e.Digest, d) {
			return e, nil
		}
	}
	return apitoken.Token{}, store.ErrNotFound
}

func (f *fakeTokens) ListAPITokens(_ context.Context, o store.ListOptions) (store.Page[apitoken.Token], error) {
	start := 0
	if o.After != uuid.Nil {
		for i, e := range f.tokens {
			if e.ID == o.After {
				start = i + 1
			}
		}
	}
	end := min(start+f.pageSize, len(f.tokens))
	p := store.Page[apitoken.Token]{Items: f.tokens[start:end]}
	if end < len(f.tokens) {
		p.Next = f.tokens[end-1].ID
	}
	return p, nil
}

func tenantToken(name string) apitoken.Token {
	_, d := apitoken.Generate()
	return apitoken.Token{ID: uuid.Must(uuid.NewV7()), TenantID: uuid.Must(uuid.NewV7()), Name: name, Digest: d}
}

func provisionToken(name string) apitoken.Token {
	t := tenantToken(name)
	t.TenantID, t.Scope = uuid.Nil, apitoken.ScopeProvision
	return t
}

func TestBootstrap(t *testing.T) {
	configured := "configured-token-0123456789abcdefghij"
	globalLater := tenantToken("g")
	globalLater.TenantID = uuid.Nil
	tests := []struct {
		name        string
		existing    []apitoken.Token
		token       string
		wantCreated bool
		wantErr     string
		wantPrinted bool
	}{
		{name: "empty store generates", wantCreated: true, wantPrinted: true},
		{name: "only tenant tokens generates", existing: []apitoken.Token{tenantToken("a"), tenantToken("b"), tenantToken("c")}, wantCreated: true, wantPrinted: true},
		{name: "global token on a later page", existing: []apitoken.Token{tenantToken("a"), tenantToken("b"), globalLater}},
		{name: "configured is created", token: configured, wantCreated: true},
		{name: "configured exists", existing: []apitoken.Token{{ID: uuid.Must(uuid.NewV7()), Name: "x", Digest: apitoken.Digest(configured)}}, token: configured},
		{name: "configured is a tenant token", existing: []apitoken.Token{{ID: uuid.Must(uuid.NewV7()), TenantID: uuid.Must(uuid.NewV7()), Digest: apitoken.Digest(configured)}},
			token: configured, wantErr: "tenant-scoped"},
		// The login tier's provisioning token is global but lets no operator in.
		{name: "only a provision-scoped global token generates", existing: []apitoken.Token{provisionToken("p")}, wantCreated: true, wantPrinted: true},
		{name: "configured is a provision token", existing: []apitoken.Token{{ID: uuid.Must(uuid.NewV7()), Scope: apitoken.ScopeProvision, Digest: apitoken.Digest(configured)}},
			token: configured, wantErr: "provision-scoped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeTokens{tokens: append([]apitoken.Token(nil), tt.existing...), pageSize: 2}
			var console bytes.Buffer
			file := filepath.Join(t.TempDir(), "bootstrap-admin-token")
			b := bootstrap{st: st, token: config.Secret(tt.token), file: file, adminURL: "http://x/admin/v1/", console: &console}
			created, err := b.ensure(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || created != tt.wantCreated {
				t.Fatalf("created=%v err=%v, want created=%v", created, err, tt.wantCreated)
			}
			printed := tokenPattern.FindString(console.String())
			if (printed != "") != tt.wantPrinted {
				t.Fatalf("console:\n%s", console.String())
			}
			if tt.wantCreated {
				want := tt.token
				if want == "" {
					want = printed
				}
				got, err := st.APITokenByDigest(context.Background(), apitoken.Digest(want))
				if err != nil || !got.Global() || got.Name != "bootstrap" {
					t.Fatalf("stored token %+v, %v", got, err)
				}
			}
			saved, err := os.ReadFile(file)
			if tt.wantPrinted {
				if err != nil || strings.TrimSpace(string(saved)) != printed {
					t.Fatalf("saved %q, %v", saved, err)
				}
			} else if !os.IsNotExist(err) {
				t.Fatalf("token file written though none was generated: %v", err)
			}
		})
	}
}
