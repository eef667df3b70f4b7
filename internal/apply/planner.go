package apply

import (
	"context"
	"strings"
)

// planner reads the server's state and turns the differences into a plan. It only
// reads; every write is inside a change's run.
type planner struct {
	api  *api
	plan plan
	ps   problems // contradictions between the file and the server
}

// scope is one tenant while it is planned and run.
type scope struct {
	slug     string
	path     string // tenants[i]
	exists   bool   // the tenant is on the server already
	declared map[string]bool
	// userIDs maps a username to its ID: filled during planning for users on the
	// server, and while running for users the plan creates.
	userIDs map[string]string
}

func (p *planner) tenant(ctx context.Context, i int, t *tenantSpec) error {
	s := &scope{slug: t.Slug, path: index("tenants", i), declared: map[string]bool{}, userIDs: map[string]string{}}
	for _, u := range t.Users {
		s.declared[u.Username] = true
	}
	cur, err := p.api.tenant(ctx, t.Slug)
	if err != nil {
		return err
	}
	s.exists = cur != nil
	if cur == nil {
		body := map[string]any{"slug": t.Slug, "display_name": t.DisplayName}
		if t.Status != nil {
			body["status"] = *t.Status
		}
		p.plan.add(change{kind: create, line: "+ tenant " + t.Slug,
			run: func(ctx context.Context, x *executor) error {
				return x.wrap(s.path, x.api.createTenant(ctx, body))
			}})
	} else {
		var d diff
		d.str("display_name", cur.DisplayName, &t.DisplayName)
		d.str("status", cur.Status, t.Status)
		p.addUpdate("tenant "+t.Slug, s.path, d, func(ctx context.Context, x *executor) error {
			return x.api.patchTenant(ctx, t.Slug, d.patch)
		})
	}
	for j := range t.Users {
		if err := p.user(ctx, s, j, &t.Users[j]); err != nil {
			return err
		}
	}
	for j := range t.Groups {
		if err := p.group(ctx, s, j, &t.Groups[j]); err != nil {
			return err
		}
	}
	for j := range t.Applications {
		if err := p.app(ctx, s, j, &t.Applications[j]); err != nil {
			return err
		}
	}
	return nil
}

// addUpdate adds an update change when d is not empty.
func (p *planner) addUpdate(what, path string, d diff, run func(context.Context, *executor) error) {
	if d.empty() {
		return
	}
	p.plan.add(change{kind: update, line: "~ " + what + ": " + strings.Join(d.fields, ", "), details: d.details,
		run: func(ctx context.Context, x *executor) error { return x.wrap(path, run(ctx, x)) }})
}

func (p *planner) user(ctx context.Context, s *scope, j int, u *userSpec) error {
	path := index(s.path+".users", j)
	name := s.slug + "/" + u.Username
	var cur *apiUser
	if s.exists {
		var err error
		if cur, err = p.api.findUser(ctx, s.slug, u.Username); err != nil {
			return err
		}
	}
	if cur == nil {
		body := map[string]any{"username": u.Username}
		putStr(body, "email", u.Email)
		putStr(body, "given_name", u.GivenName)
		putStr(body, "family_name", u.FamilyName)
		putStr(body, "status", u.Status)
		if u.EmailVerified != nil {
			body["email_verified"] = *u.EmailVerified
		}
		pw := u.password
		p.plan.add(change{kind: create, line: "+ user " + name,
			run: func(ctx context.Context, x *executor) error {
				if pw != "" {
					body["password"] = string(pw)
					defer delete(body, "password")
				}
				created, err := x.api.createUser(ctx, s.slug, body)
				if err != nil {
					return x.wrap(path, err)
				}
				s.userIDs[u.Username] = created.ID
				return nil
			}})
		return nil
	}
	s.userIDs[u.Username] = cur.ID
	var d diff
	d.str("email", strings.ToLower(cur.Email), u.Email)
	d.boolean("email_verified", cur.EmailVerified, u.EmailVerified)
	d.str("given_name", cur.GivenName, u.GivenName)
	d.str("family_name", cur.FamilyName, u.FamilyName)
	d.str("status", cur.Status, u.Status)
	id := cur.ID
	p.addUpdate("user "+name, path, d, func(ctx context.Context, x *executor) error {
		return x.api.patchUser(ctx, s.slug, id, d.patch)
	})
	return nil
}

func putStr(m map[string]any, key string, v *string) {
	if v != nil {
		m[key] = *v
	}
}
