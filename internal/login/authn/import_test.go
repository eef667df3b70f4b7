package authn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// importer is a fake authn.Importer: it answers with err, or creates the user named as
// typed when pw is its password.
type importer struct {
	mu     sync.Mutex
	calls  []string // the names it was asked about
	pw     string
	err    error
	result func(t tenant.Tenant, name string) user.User // nil: a fresh active user of t
}

func (im *importer) Import(_ context.Context, t tenant.Tenant, name, pw string) (user.User, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.calls = append(im.calls, name)
	switch {
	case im.err != nil:
		return user.User{}, im.err
	case pw != im.pw:
		return user.User{}, fmt.Errorf("source said no: %w", authn.ErrInvalidCredentials)
	case im.result != nil:
		return im.result(t, name), nil
	}
	return user.User{ID: uuid.New(), TenantID: t.ID, Username: strings.ToLower(name), Status: user.StatusActive,
		PasswordHash: "$argon2id$must-not-leak"}, nil
}

func (im *importer) count() int { im.mu.Lock(); defer im.mu.Unlock(); return len(im.calls) }

const legacyPW = "legacy password 1"

func importFixture(t *testing.T, im *importer) *fixture {
	t.Helper()
	f := newFixture(t, func(c *authn.Config) { c.Importer = im })
	f.tenant.UserImport = tenant.UserImport{URL: "https://legacy.example.com/check"}
	return f
}

func TestImportOnUnknownName(t *testing.T) {
	im := &importer{pw: legacyPW}
	f := importFixture(t, im)

	u, err := f.auth("  Newbie ", legacyPW)
	if err != nil {
		t.Fatalf("import sign-in: %v", err)
	}
	if u.ID == uuid.Nil || u.TenantID != f.tenant.ID || u.PasswordHash != "" {
		t.Errorf("imported user %+v: want an ID in the tenant and no hash", u)
	}
	if len(im.calls) != 1 || im.calls[0] != "Newbie" {
		t.Errorf("importer asked about %q, want the name as typed, trimmed", im.calls)
	}
	if len(f.rec.signedIn) != 1 || f.rec.signedIn[0] != u.ID {
		t.Errorf("SignedIn %v, want the imported user", f.rec.signedIn)
	}
	// The name's counter (claimed before the import) is gone after the success.
	if n := failures(t, f.kv, authn.AccountKey(f.tenant.ID, "newbie")); n != 0 {
		t.Errorf("account counter after an import = %d, want 0", n)
	}
}

func TestImportNotAsked(t *testing.T) {
	tests := []struct {
		name, login, pw string
		noSource        bool
		wantErr         error
	}{
		{name: "existing user, right password", login: "alice", pw: alicePW},
		{name: "existing user, legacy password", login: "alice", pw: legacyPW, wantErr: authn.ErrInvalidCredentials},
		{name: "existing user by e-mail", login: "alice@example.com", pw: legacyPW, wantErr: authn.ErrInvalidCredentials},
		{name: "disabled user", login: "bob", pw: legacyPW, wantErr: authn.ErrInvalidCredentials},
		{name: "user without password", login: "carol", pw: legacyPW, wantErr: authn.ErrInvalidCredentials},
		{name: "tenant without source", login: "newbie", pw: legacyPW, noSource: true, wantErr: authn.ErrInvalidCredentials},
		{name: "name no username can have", login: "john smith", pw: legacyPW, wantErr: authn.ErrInvalidCredentials},
		{name: "name of 129 characters", login: strings.Repeat("a", 129), pw: legacyPW, wantErr: authn.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := &importer{pw: legacyPW}
			f := importFixture(t, im)
			if tt.noSource {
				f.tenant.UserImport = tenant.UserImport{}
			}
			_, err := f.auth(tt.login, tt.pw)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if im.count() != 0 {
				t.Errorf("importer asked %d times, want never", im.count())
			}
		})
	}
}

// TestImportRejectedCountsAsFailure: a rejection by the source is a failed password:
// it counts per account and per source address, and locks the name at the threshold,
// after which the source is not asked any more.
func TestImportRejectedCountsAsFailure(t *testing.T) {
	im := &importer{pw: legacyPW}
	f := importFixture(t, im)
	for i := range f.tenant.Lockout.Threshold - 1 {
		if _, err := f.auth("newbie", "guess"); !errors.Is(err, authn.ErrInvalidCredentials) || errors.Is(err, authn.ErrLocked) {
			t.Fatalf("guess %d: %v, want invalid credentials", i+1, err)
		}
	}
	if n := failures(t, f.kv, authn.AccountKey(f.tenant.ID, "newbie")); n != f.tenant.Lockout.Threshold-1 {
		t.Errorf("account counter = %d, want %d", n, f.tenant.Lockout.Threshold-1)
	}
	if n := failures(t, f.kv, authn.IPKey(f.tenant.ID, ip)); n != f.tenant.Lockout.Threshold-1 {
		t.Errorf("address counter = %d, want %d", n, f.tenant.Lockout.Threshold-1)
	}
	if _, err := f.auth("newbie", "guess"); !errors.Is(err, authn.ErrLocked) {
		t.Fatalf("guess at the threshold: %v, want locked", err)
	}
	asked := im.count()
	if _, err := f.auth("newbie", legacyPW); !errors.Is(err, authn.ErrLocked) {
		t.Fatalf("right password while locked: %v, want locked", err)
	}
	if im.count() != asked {
		t.Error("the source was asked while the name was locked")
	}
}

// TestImportWithoutVerdict: the source or the admin tier unavailable fails that sign-in
// with its own error and gives the claim back, so an outage locks nobody out.
func TestImportWithoutVerdict(t *testing.T) {
	for _, sentinel := range []error{authn.ErrImportUnavailable, authn.ErrProvisioningFailed} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			im := &importer{pw: legacyPW, err: fmt.Errorf("%w: admin API answered 503", sentinel)}
			f := importFixture(t, im)
			for range f.tenant.Lockout.Threshold + 2 {
				if _, err := f.auth("newbie", legacyPW); !errors.Is(err, sentinel) {
					t.Fatalf("err = %v, want %v", err, sentinel)
				}
			}
			if n := failures(t, f.kv, authn.AccountKey(f.tenant.ID, "newbie")); n != 0 {
				t.Errorf("account counter = %d after outages, want 0", n)
			}
			if n := failures(t, f.kv, authn.IPKey(f.tenant.ID, ip)); n != 0 {
				t.Errorf("address counter = %d after outages, want 0", n)
			}
			// Other sign-ins are untouched.
			if u, err := f.auth("alice", alicePW); err != nil || u.ID != f.alice.ID {
				t.Errorf("alice during the outage: %v", err)
			}
		})
	}
}

// TestImportResultChecked: whatever the importer returns must be an active user of the
// tenant, or the sign-in fails.
func TestImportResultChecked(t *testing.T) {
	for name, result := range map[string]func(tenant.Tenant, string) user.User{
		"no ID": func(t tenant.Tenant, n string) user.User {
			return user.User{TenantID: t.ID, Username: n, Status: user.StatusActive}
		},
		"other tenant": func(_ tenant.Tenant, n string) user.User {
			return user.User{ID: uuid.New(), TenantID: uuid.New(), Username: n, Status: user.StatusActive}
		},
		"disabled": func(t tenant.Tenant, n string) user.User {
			return user.User{ID: uuid.New(), TenantID: t.ID, Username: n, Status: user.StatusDisabled}
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := importFixture(t, &importer{pw: legacyPW, result: result})
			if _, err := f.auth("newbie", legacyPW); !errors.Is(err, authn.ErrProvisioningFailed) {
				t.Errorf("err = %v, want provisioning failed", err)
			}
			if len(f.rec.signedIn) != 0 {
				t.Error("a sign-in was recorded")
			}
		})
	}
}

func TestImportLogsNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	im := &importer{pw: legacyPW}
	f := newFixture(t, func(c *authn.Config) {
		c.Importer = im
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.tenant.UserImport = tenant.UserImport{URL: "https://legacy.example.com/check"}
	u, err := f.auth("Newbie", legacyPW)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.auth("newbie2", "wrong guess")
	out := logs.String()
	if !strings.Contains(out, u.ID.String()) {
		t.Errorf("the import is not logged with the user ID:\n%s", out)
	}
	for _, secret := range []string{legacyPW, "wrong guess", "newbie", "Newbie", "must-not-leak"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
}
