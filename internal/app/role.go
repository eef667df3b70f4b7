package app

import (
	"context"
	"fmt"
)

// Role is what a nines process does (ARCHITECTURE.md §1).
type Role string

// The roles.
const (
	RoleAll    Role = "all"
	RoleLogin  Role = "login"
	RoleAdmin  Role = "admin"
	RoleWorker Role = "worker"
	RoleNATS   Role = "nats"
	RoleEdge   Role = "edge"
)

// Roles lists every role name, in the order the CLI shows them.
var Roles = []Role{RoleAll, RoleLogin, RoleAdmin, RoleWorker, RoleNATS, RoleEdge}

// roleRunner runs one role until ctx is cancelled.
type roleRunner func(ctx context.Context, o Options) error

func runnerFor(r Role) (roleRunner, error) {
	switch r {
	case RoleAll:
		return runAll, nil
	case RoleAdmin:
		return runAdmin, nil
	case RoleLogin:
		return runLogin, nil
	case RoleWorker:
		return runWorker, nil
	case RoleNATS:
		return runNATS, nil
	case RoleEdge:
		return runEdge, nil
	}
	return nil, fmt.Errorf("unknown role %q", r)
}

// runAll serves everything in one process. It migrates the database at start, whether
// it is the embedded SQLite or PostgreSQL.
func runAll(ctx context.Context, o Options) error {
	return serve(ctx, o, serveSpec{migrate: true, primaryFallback: true, admin: true, nats: true})
}

// runAdmin serves the admin API against the primary. It migrates only the embedded
// SQLite; a PostgreSQL schema is migrated explicitly with `nines migrate` (a deploy
// step that runs once, not in every replica). With NINES_NATS_URL it connects to the
// deployment's NATS: the read-only switch is then shared by every admin process, and
// key rotations are announced to the login tier (internal/changes).
func runAdmin(ctx context.Context, o Options) error {
	return serve(ctx, o, serveSpec{migrate: o.Config.Embedded(), primaryFallback: true, admin: true, optionalNATS: true})
}
