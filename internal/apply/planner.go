package apply

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// planner reads the server's state and turns the differences into a plan. It only
// reads; every write is inside a change's run.
type planner struct {
	api   *api
	plan  plan
	ps    problems // contradictions between the file and the server
	notes []string // things apply chose not to do, printed to stderr
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
	want := t.desired()
	threshold, duration := int64(want.Lockout.Threshold), int64(want.Lockout.Duration/time.Second)
	var generation int64 // the server's; a new tenant starts at 0
	if cur == nil {
		body := map[string]any{"slug": t.Slug, "display_name": t.DisplayName}
		putStr(body, "status", t.Status)
		putStr(body, "primary_color", t.PrimaryColor)
		if t.LockoutThreshold != nil {
			body["lockout_threshold"] = threshold
		}
		if t.LockoutDurationSeconds != nil {
			body["lockout_duration_seconds"] = duration
		}
		if t.UserImport != nil && t.UserImport.URL != "" {
			body["user_import"] = map[string]any{"url": t.UserImport.URL}
		}
		p.plan.add(change{kind: create, line: "+ tenant " + t.Slug,
			run: func(ctx context.Context, x *executor) error {
				return x.wrap(s.path, x.api.createTenant(ctx, body))
			}})
	} else {
		generation = cur.KeyGeneration
		var d diff
		d.str("display_name", cur.DisplayName, &t.DisplayName)
		d.str("status", cur.Status, t.Status)
		d.str("primary_color", cur.PrimaryColor, t.PrimaryColor)
		if t.LockoutThreshold != nil {
			d.integer("lockout_threshold", cur.LockoutThreshold, &threshold)
		}
		if t.LockoutDurationSeconds != nil {
			d.integer("lockout_duration_seconds", cur.LockoutDurationSeconds, &duration)
		}
		if t.UserImport != nil && t.UserImport.URL != cur.importURL() {
			var v any // null removes the source
			if t.UserImport.URL != "" {
				v = map[string]any{"url": t.UserImport.URL}
			}
			d.setShown("user_import", showImport(cur.importURL()), showImport(t.UserImport.URL), v)
		}
		p.addUpdate("tenant "+t.Slug, s.path, d, func(ctx context.Context, x *executor) error {
			return x.api.patchTenant(ctx, t.Slug, d.patch)
		})
	}
	p.rotations(s, t, generation)
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

// showImport renders an import source URL in a dry run ("none" when there is none).
func showImport(u string) string {
	if u == "" {
		return "none"
	}
	return fmt.Sprintf("%q", u)
}

// maxRotations bounds the key rotations of one tenant in one apply. Each rotation drops
// the previous keys, so rotating twice in a row drops the keys that signed the tokens
// in use before the apply; a larger jump is refused rather than done blindly.
const maxRotations = 5

// rotations plans one key rotation per generation the file is ahead of the server.
// A file behind the server is a note, not a change: keys never roll back.
func (p *planner) rotations(s *scope, t *tenantSpec, server int64) {
	if t.KeyGeneration == nil {
		return
	}
	want := *t.KeyGeneration
	switch missing := want - server; {
	case missing == 0:
		return
	case missing < 0:
		p.notes = append(p.notes, fmt.Sprintf("note: keys %s: the file says key_generation %d and the server is at %d; "+
			"keys never roll back, so nothing is done (set it to %d to silence this note)", t.Slug, want, server, server))
		return
	case missing > maxRotations:
		p.ps.add(join(s.path, "key_generation"), fmt.Sprintf("is %d and the server is at %d: at most %d rotations per apply "+
			"(each one drops the previous keys); raise it in steps", want, server, maxRotations))
		return
	}
	for g := server + 1; g <= want; g++ {
		var details []string
		if g > server+1 {
			details = []string{"a second rotation in one apply drops the keys that were current before it"}
		}
		p.plan.add(change{kind: update, line: fmt.Sprintf("~ keys %s: rotated (generation %d)", t.Slug, g), details: details,
			run: func(ctx context.Context, x *executor) error {
				got, err := x.api.rotateKeys(ctx, s.slug)
				if err != nil {
					return x.wrap(join(s.path, "key_generation"), err)
				}
				if got != g {
					return x.wrap(join(s.path, "key_generation"), fmt.Errorf(
						"the server is at generation %d after the rotation, expected %d: someone else rotated meanwhile; re-run apply", got, g))
				}
				return nil
			}})
	}
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
