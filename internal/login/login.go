// Package login will serve end-user flows: hosted login pages and the OIDC/OAuth 2.0
// endpoints. It runs in the login tier, which reads entity data from read replicas only
// and never writes the entity store (ARCHITECTURE.md §1, §3).
//
// This file is the boundary: the reader interfaces the login tier is handed. None has a
// write method, and no package under internal/login may import a store implementation or
// the admin tier — boundary_test.go enforces both. Writes the login tier needs (last
// sign-in time, failed-attempt counters) go through one named command interface, which a
// later version turns into asynchronous commands on the broker. The one synchronous
// write, a user created during sign-in (just-in-time provisioning), is a call to the
// admin API over HTTP through the public URL (internal/login/provision), never a store
// write.
package login

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// TenantReader resolves the tenant of an issuer path.
type TenantReader interface {
	TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error)
}

// UserReader finds the user signing in and what goes into their tokens.
type UserReader interface {
	User(ctx context.Context, tenantID, id uuid.UUID) (user.User, error)
	UserByUsername(ctx context.Context, tenantID uuid.UUID, username string) (user.User, error)
	UserByEmail(ctx context.Context, tenantID uuid.UUID, email string) (user.User, error)
	GroupsOfUser(ctx context.Context, tenantID, userID uuid.UUID) ([]user.Group, error)
}

// ApplicationReader finds the OAuth client of a request.
type ApplicationReader interface {
	ApplicationByClientID(ctx context.Context, tenantID uuid.UUID, clientID string) (client.Application, error)
}

// Recorder is the login tier's one way to write to the entity store: facts about
// sign-ins. On the embedded default it writes through; the next version publishes them as
// asynchronous commands. A Recorder error never fails a sign-in that otherwise succeeded.
type Recorder interface {
	// SignedIn records a successful sign-in (last sign-in time).
	SignedIn(ctx context.Context, tenantID, userID uuid.UUID, at time.Time) error
	// PasswordRehashed stores a fresh hash of the user's password, computed after a
	// successful sign-in whose stored hash used weaker parameters than today's.
	PasswordRehashed(ctx context.Context, tenantID, userID uuid.UUID, hash string) error
	// SignInFailed records a refused password attempt for the audit trail: userID is
	// uuid.Nil when the name matched no account, source the client address (the
	// recorder keeps only a keyed digest of it), reason "invalid_credentials" or
	// "locked". An error means the attempt could not be audited: the request fails.
	SignInFailed(ctx context.Context, tenantID, userID uuid.UUID, source, reason string) error
}
