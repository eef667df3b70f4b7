package storetest

import (
	"testing"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

func testApplications(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	in := newApp("web")
	in.TenantID = randomID() // must be overridden by the argument
	got := res(s.CreateApplication(ctx, tn.ID, in)).must(t)
	want := in
	want.ID, want.TenantID, want.Version, want.CreatedAt, want.UpdatedAt = got.ID, tn.ID, 1, got.CreatedAt, got.CreatedAt
	wantSame(t, "CreateApplication", want, got)
	checkStamp(t, "CreatedAt", got.CreatedAt)
	wantSame(t, "Application", got, res(s.Application(ctx, tn.ID, got.ID)).must(t))
	wantSame(t, "ApplicationByClientID", got, res(s.ApplicationByClientID(ctx, tn.ID, "web")).must(t))

	// Nil lists come back empty; no secret comes back nil.
	bare := client.Application{ClientID: "cli", ClientName: "CLI", Type: client.Public,
		TokenEndpointAuthMethod: client.AuthNone, SecretDigest: []byte{}}
	b := res(s.CreateApplication(ctx, tn.ID, bare)).must(t)
	for _, got := range []client.Application{b, res(s.Application(ctx, tn.ID, b.ID)).must(t)} {
		for name, l := range map[string][]string{"RedirectURIs": got.RedirectURIs,
			"PostLogoutRedirectURIs": got.PostLogoutRedirectURIs, "GrantTypes": got.GrantTypes,
			"ResponseTypes": got.ResponseTypes} {
			if l == nil || len(l) != 0 {
				t.Errorf("%s = %#v, want an empty non-nil slice", name, l)
			}
		}
		if got.SecretDigest != nil {
			t.Errorf("SecretDigest = %#v, want nil", got.SecretDigest)
		}
	}

	upd := got
	upd.ClientName = "Web 2"
	upd.SecretDigest = client.Digest("rotated")
	upd.RedirectURIs = []string{"https://new.example.com/cb"}
	upd.PostLogoutRedirectURIs = nil
	upd.GrantTypes = []string{client.GrantClientCredentials}
	upd.ResponseTypes = []string{}
	upd.TokenEndpointAuthMethod = client.AuthSecretPost
	upd.IDTokenSignedResponseAlg = "EdDSA"
	upd.ClientID, upd.Type = "changed", client.Public // immutable: ignored
	after := res(s.UpdateApplication(ctx, tn.ID, upd)).must(t)
	want = upd
	want.ClientID, want.Type = got.ClientID, got.Type
	want.PostLogoutRedirectURIs = []string{}
	want.Version, want.UpdatedAt = 2, after.UpdatedAt
	wantSame(t, "UpdateApplication", want, after)
	wantSame(t, "Application after update", after, res(s.Application(ctx, tn.ID, got.ID)).must(t))

	// A JWKS is stored as written and can be removed again.
	withJWKS := after
	withJWKS.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	withJWKS.JWKS = []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	stored := res(s.UpdateApplication(ctx, tn.ID, withJWKS)).must(t)
	if string(stored.JWKS) != string(withJWKS.JWKS) {
		t.Errorf("JWKS = %s, want %s", stored.JWKS, withJWKS.JWKS)
	}
	wantSame(t, "Application with JWKS", stored, res(s.Application(ctx, tn.ID, got.ID)).must(t))
	wantSame(t, "Reader with JWKS", stored, res(s.Reader().ApplicationByClientID(ctx, tn.ID, got.ClientID)).must(t))
	stored.JWKS = nil
	if a := res(s.UpdateApplication(ctx, tn.ID, stored)).must(t); a.JWKS != nil {
		t.Errorf("JWKS after removal = %s, want nil", a.JWKS)
	}
	after = res(s.Application(ctx, tn.ID, got.ID)).must(t)

	// The secret can be removed.
	noSecret := after
	noSecret.SecretDigest = nil
	if a := res(s.UpdateApplication(ctx, tn.ID, noSecret)).must(t); a.SecretDigest != nil {
		t.Errorf("SecretDigest after removal = %x, want nil", a.SecretDigest)
	}

	mustDo(t, s.DeleteApplication(ctx, tn.ID, got.ID))
	_, err := s.Application(ctx, tn.ID, got.ID)
	wantErr(t, "Application after delete", err, store.ErrNotFound)

	tests := []struct {
		name string
		call func() error
	}{
		{"Application", func() error { _, err := s.Application(ctx, tn.ID, randomID()); return err }},
		{"ApplicationByClientID", func() error { _, err := s.ApplicationByClientID(ctx, tn.ID, "nope"); return err }},
		{"UpdateApplication", func() error { _, err := s.UpdateApplication(ctx, tn.ID, after); return err }},
		{"DeleteApplication", func() error { return s.DeleteApplication(ctx, tn.ID, got.ID) }},
		{"CreateApplication in a missing tenant", func() error {
			_, err := s.CreateApplication(ctx, randomID(), newApp("x"))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run("not found/"+tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
	}
}

func testApplicationUniqueKeys(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s)
	a := mkApp(t, s, tn.ID, "web")
	withID := newApp("other")
	withID.ID = a.ID
	tests := []struct {
		name  string
		in    client.Application
		field string
	}{
		{"client_id", newApp("web"), "client_id"},
		{"id", withID, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateApplication(ctx, tn.ID, tc.in)
			wantExists(t, "CreateApplication", err, tc.field)
		})
	}
	wantSame(t, "application after collisions", a, res(s.Application(ctx, tn.ID, a.ID)).must(t))
	mkApp(t, s, mkTenant(t, s).ID, "web") // client IDs are unique per tenant only
}
