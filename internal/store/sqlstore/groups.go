package sqlstore

import (
	"context"
	"database/sql"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/user"
)

const groupCols = `tenant_id, id, name, description, version, created_at, updated_at`

func (s *Store) scanGroup(r row) (user.Group, error) {
	var g user.Group
	err := r.Scan(&g.TenantID, &g.ID, &g.Name, &g.Description, &g.Version,
		s.scanTime(&g.CreatedAt), s.scanTime(&g.UpdatedAt))
	return g, err
}

// CreateGroup stores g in tenantID with Version 1. A taken name is AlreadyExists("name").
func (s *Store) CreateGroup(ctx context.Context, tenantID uuid.UUID, g user.Group) (user.Group, error) {
	id, err := newID(g.ID)
	if err != nil {
		return user.Group{}, err
	}
	now := s.stamp()
	g.ID, g.TenantID, g.Version, g.CreatedAt, g.UpdatedAt = id, tenantID, 1, now, now
	_, err = s.exec(ctx, "create group", `INSERT INTO groups (`+groupCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		g.TenantID, g.ID, g.Name, g.Description, g.Version, s.d.Time(now), s.d.Time(now))
	if err != nil {
		return user.Group{}, err
	}
	return g, nil
}

// Group returns the group id of tenantID.
func (s *Store) Group(ctx context.Context, tenantID, id uuid.UUID) (user.Group, error) {
	g, err := s.scanGroup(s.db.QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups
		WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return g, s.readErr("group", err)
}

// GroupByName returns the group of tenantID named name.
func (s *Store) GroupByName(ctx context.Context, tenantID uuid.UUID, name string) (user.Group, error) {
	g, err := s.scanGroup(s.db.QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups
		WHERE tenant_id = $1 AND name = $2`, tenantID, name))
	return g, s.readErr("group by name", err)
}

// ListGroups returns one page of tenantID's groups, ordered by ID.
func (s *Store) ListGroups(ctx context.Context, tenantID uuid.UUID, opts store.ListOptions) (store.Page[user.Group], error) {
	opts = opts.Normalize()
	rows, err := s.db.QueryContext(ctx, `SELECT `+groupCols+` FROM groups
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, opts.After, opts.Limit+1)
	if err != nil {
		return store.Page[user.Group]{}, s.readErr("list groups", err)
	}
	p, err := collect(rows, opts.Limit, s.scanGroup, func(g user.Group) uuid.UUID { return g.ID })
	return p, s.readErr("list groups", err)
}

// UpdateGroup stores g's Name and Description if g.Version is current and returns the
// stored group with the next version.
func (s *Store) UpdateGroup(ctx context.Context, tenantID uuid.UUID, g user.Group) (user.Group, error) {
	return update(ctx, s, versioned{
		op: "update group",
		update: `UPDATE groups
			SET name = $1, description = $2, version = version + 1, updated_at = $3
			WHERE tenant_id = $4 AND id = $5 AND version = $6
			RETURNING ` + groupCols,
		args:   []any{g.Name, g.Description, s.d.Time(s.stamp()), tenantID, g.ID, g.Version},
		exists: `SELECT 1 FROM groups WHERE tenant_id = $1 AND id = $2`,
		key:    []any{tenantID, g.ID},
	}, s.scanGroup)
}

// DeleteGroup removes the group id of tenantID and, by cascade, its memberships.
func (s *Store) DeleteGroup(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.deleteOne(ctx, "delete group", `DELETE FROM groups WHERE tenant_id = $1 AND id = $2`, tenantID, id)
}

// AddMember makes userID a member of groupID. Both must be in tenantID (the composite
// foreign keys make a cross-tenant membership impossible): otherwise store.ErrNotFound.
// An existing membership is AlreadyExists("user_id").
func (s *Store) AddMember(ctx context.Context, tenantID, groupID, userID uuid.UUID) error {
	_, err := s.exec(ctx, "add member", `INSERT INTO group_members (tenant_id, group_id, user_id, created_at)
		VALUES ($1, $2, $3, $4)`, tenantID, groupID, userID, s.d.Time(s.stamp()))
	return err
}

// RemoveMember ends userID's membership of groupID; store.ErrNotFound if there is none.
func (s *Store) RemoveMember(ctx context.Context, tenantID, groupID, userID uuid.UUID) error {
	return s.deleteOne(ctx, "remove member", `DELETE FROM group_members
		WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3`, tenantID, groupID, userID)
}

// ListMembers returns one page of the users in groupID, ordered by user ID;
// store.ErrNotFound if the group is not in tenantID.
func (s *Store) ListMembers(ctx context.Context, tenantID, groupID uuid.UUID, opts store.ListOptions) (store.Page[user.User], error) {
	opts = opts.Normalize()
	var p store.Page[user.User]
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM groups WHERE tenant_id = $1 AND id = $2`,
			tenantID, groupID).Scan(&one)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+prefixed("u.", userCols)+`
			FROM group_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
			WHERE m.tenant_id = $1 AND m.group_id = $2 AND m.user_id > $3
			ORDER BY m.user_id LIMIT $4`, tenantID, groupID, opts.After, opts.Limit+1)
		if err != nil {
			return err
		}
		p, err = collect(rows, opts.Limit, s.scanUser, func(u user.User) uuid.UUID { return u.ID })
		return err
	})
	return p, s.readErr("list members", err)
}

// GroupsOfUser returns the groups userID belongs to, ordered by name (an empty slice for
// none); store.ErrNotFound if the user is not in tenantID.
func (s *Store) GroupsOfUser(ctx context.Context, tenantID, userID uuid.UUID) ([]user.Group, error) {
	return s.groupsOfUser(ctx, s.db, tenantID, userID)
}

// groupsOfUser needs a second query only when the user is in no group: a membership row
// proves the user exists in the tenant (foreign key), so the common case is one query.
func (s *Store) groupsOfUser(ctx context.Context, q querier, tenantID, userID uuid.UUID) ([]user.Group, error) {
	// CROSS JOIN makes SQLite start from the user's memberships (group_members_user_idx)
	// instead of walking every group of the tenant in name order; PostgreSQL plans it as
	// the inner join it is.
	rows, err := q.QueryContext(ctx, `SELECT `+prefixed("g.", groupCols)+`
		FROM group_members m CROSS JOIN groups g
		WHERE g.tenant_id = m.tenant_id AND g.id = m.group_id
			AND m.tenant_id = $1 AND m.user_id = $2
		ORDER BY g.name`, tenantID, userID)
	if err != nil {
		return nil, s.readErr("groups of user", err)
	}
	groups, err := all(rows, s.scanGroup)
	if err != nil {
		return nil, s.readErr("groups of user", err)
	}
	if len(groups) > 0 {
		return groups, nil
	}
	var one int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2`,
		tenantID, userID).Scan(&one)
	if err != nil {
		return nil, s.readErr("groups of user", err)
	}
	return groups, nil
}
