package apply

import (
	"context"
	"fmt"
	"slices"
)

func (p *planner) group(ctx context.Context, s *scope, j int, g *groupSpec) error {
	path := index(s.path+".groups", j)
	name := s.slug + "/" + g.Name
	var cur *apiGroup
	if s.exists {
		var err error
		if cur, err = p.api.findGroup(ctx, s.slug, g.Name); err != nil {
			return err
		}
	}
	groupID := new(string)         // set by the create's run when the group is new
	current := map[string]string{} // member username → user ID, on the server
	var order []string             // current's keys
	if cur == nil {
		body := map[string]any{"name": g.Name}
		putStr(body, "description", g.Description)
		p.plan.add(change{kind: create, line: "+ group " + name,
			run: func(ctx context.Context, x *executor) error {
				created, err := x.api.createGroup(ctx, s.slug, body)
				if err != nil {
					return x.wrap(path, err)
				}
				*groupID = created.ID
				return nil
			}})
	} else {
		*groupID = cur.ID
		var d diff
		d.str("description", cur.Description, g.Description)
		id := cur.ID
		p.addUpdate("group "+name, path, d, func(ctx context.Context, x *executor) error {
			return x.api.patchGroup(ctx, s.slug, id, d.patch)
		})
		if g.Members != nil {
			ms, err := p.api.members(ctx, s.slug, cur.ID)
			if err != nil {
				return err
			}
			for _, m := range ms {
				current[m.Username] = m.ID
				order = append(order, m.Username)
			}
		}
	}
	if g.Members == nil {
		return nil // membership not managed for this group
	}
	want := map[string]bool{}
	for k, m := range g.Members {
		want[m] = true
		if _, ok := current[m]; ok {
			continue
		}
		if err := p.resolve(ctx, s, m, index(path+".members", k)); err != nil {
			return err
		}
		p.plan.add(change{kind: create, line: fmt.Sprintf("+ member %s ← %s", name, m),
			run: func(ctx context.Context, x *executor) error {
				return x.wrap(index(path+".members", k), x.api.addMember(ctx, s.slug, *groupID, s.userIDs[m]))
			}})
	}
	slices.Sort(order) // removals in a stable, readable order
	for _, m := range order {
		if want[m] {
			continue
		}
		uid := current[m]
		p.plan.add(change{kind: remove, line: fmt.Sprintf("- member %s ← %s", name, m),
			run: func(ctx context.Context, x *executor) error {
				return x.wrap(path+".members", x.api.removeMember(ctx, s.slug, *groupID, uid))
			}})
	}
	return nil
}

// resolve makes sure a member exists: declared in the file (its ID is known once it has
// been created) or already on the server. A member that is neither is a problem.
func (p *planner) resolve(ctx context.Context, s *scope, username, path string) error {
	if s.declared[username] {
		return nil
	}
	if _, ok := s.userIDs[username]; ok {
		return nil
	}
	if s.exists {
		u, err := p.api.findUser(ctx, s.slug, username)
		if err != nil {
			return err
		}
		if u != nil {
			s.userIDs[username] = u.ID
			return nil
		}
	}
	p.ps.add(path, fmt.Sprintf("user %q is neither declared in %s.users nor on the server", username, s.path))
	return nil
}
