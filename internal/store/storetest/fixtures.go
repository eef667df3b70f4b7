package storetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// result carries a call's two results to must: res(s.User(ctx, tid, id)).must(t).
type result[T any] struct {
	v   T
	err error
}

func res[T any](v T, err error) result[T] { return result[T]{v, err} }

// must fails the test at once when the call failed. Only for the test's own goroutine.
func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr checks that err is target (errors.Is).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// wantExists checks that err is an *store.AlreadyExistsError naming field.
func wantExists(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ae *store.AlreadyExistsError
	if !errors.As(err, &ae) || !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("%s: err = %v, want AlreadyExists(%q)", what, err, field)
		return
	}
	if ae.Field != field {
		t.Errorf("%s: AlreadyExists field = %q, want %q", what, ae.Field, field)
	}
}

// wantSame fails with a diff when got differs from want.
func wantSame(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: mismatch (-want +got):\n%s", what, d)
	}
}

// checkStamp checks that a stored time is set, in UTC and truncated to microseconds.
func checkStamp(t *testing.T, what string, ts time.Time) {
	t.Helper()
	switch {
	case ts.IsZero():
		t.Errorf("%s is zero", what)
	case ts.Location() != time.UTC:
		t.Errorf("%s = %v, want UTC", what, ts)
	case ts.Nanosecond()%1000 != 0:
		t.Errorf("%s = %v, want whole microseconds", what, ts)
	}
}

var seq atomic.Int64

// unique returns a short string unique within the test binary, for slugs and names.
func unique(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, seq.Add(1))
}

func newTenant(slug string) tenant.Tenant {
	return tenant.Tenant{Slug: slug, DisplayName: "Tenant " + slug, Status: tenant.StatusActive,
		PrimaryColor: "#1a73e8", Lockout: tenant.LockoutPolicy{Threshold: 7, Duration: 20 * time.Minute},
		UserImport: tenant.UserImport{URL: "https://legacy.example.com/" + slug + "/check?realm=a%20b"}}
}

func newUser(username, email string) user.User {
	return user.User{
		Username: username, Email: email, EmailVerified: email != "",
		GivenName: "Given " + username, FamilyName: "Family " + username,
		Status:       user.StatusActive,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
	}
}

func newGroup(name string) user.Group {
	return user.Group{Name: name, Description: "Group " + name}
}

func newApp(clientID string) client.Application {
	return client.Application{
		ClientID: clientID, ClientName: "App " + clientID, Type: client.Confidential,
		SecretDigest:             client.Digest("secret-" + clientID),
		RedirectURIs:             []string{"https://app.example.com/cb", "https://app.example.com/cb2"},
		PostLogoutRedirectURIs:   []string{"https://app.example.com/bye"},
		GrantTypes:               []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		ResponseTypes:            []string{"code"},
		TokenEndpointAuthMethod:  client.AuthSecretBasic,
		IDTokenSignedResponseAlg: "ES256",
	}
}

func newToken(tenantID uuid.UUID, name string) apitoken.Token {
	_, digest := apitoken.Generate()
	return apitoken.Token{TenantID: tenantID, Name: name, Digest: digest}
}

// mkTenant creates a tenant with a full set of fake signing keys (see fakeKeys).
func mkTenant(t *testing.T, s *sqlstore.Store) tenant.Tenant {
	t.Helper()
	tn := newTenant(unique("t"))
	tn.ID = newV7(t)
	return res(s.CreateTenantWithKeys(t.Context(), tn, fakeKeys(tn.ID))).must(t)
}

func newV7(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mkUser(t *testing.T, s *sqlstore.Store, tenantID uuid.UUID, username, email string) user.User {
	t.Helper()
	return res(s.CreateUser(t.Context(), tenantID, newUser(username, email))).must(t)
}

func mkGroup(t *testing.T, s *sqlstore.Store, tenantID uuid.UUID, name string) user.Group {
	t.Helper()
	return res(s.CreateGroup(t.Context(), tenantID, newGroup(name))).must(t)
}

func mkApp(t *testing.T, s *sqlstore.Store, tenantID uuid.UUID, clientID string) client.Application {
	t.Helper()
	return res(s.CreateApplication(t.Context(), tenantID, newApp(clientID))).must(t)
}

func mkToken(t *testing.T, s *sqlstore.Store, tenantID uuid.UUID, name string) apitoken.Token {
	t.Helper()
	return res(s.CreateAPIToken(t.Context(), newToken(tenantID, name))).must(t)
}

// randomID is an ID that no store holds.
func randomID() uuid.UUID { return uuid.New() }
