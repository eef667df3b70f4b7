package apply

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// check validates doc with the domain rules, normalises the keys the server normalises
// (usernames, e-mails, member names), applies application defaults and resolves
// password files relative to dir. It returns every problem found.
func check(doc *document, dir string) problems {
	var ps problems
	slugs := map[string]string{}
	for i := range doc.Tenants {
		t := &doc.Tenants[i]
		p := index("tenants", i)
		ps.addFields(p, t.desired().Validate())
		if t.KeyGeneration != nil && *t.KeyGeneration < 0 {
			ps.add(join(p, "key_generation"), "must be 0 or more")
		}
		dup(&ps, slugs, t.Slug, join(p, "slug"))
		checkUsers(&ps, t, p, dir)
		checkGroups(&ps, t, p)
		checkApps(&ps, t, p)
	}
	return ps
}

// dup reports key when seen already holds it, and records it otherwise.
func dup(ps *problems, seen map[string]string, key, path string) {
	if key == "" {
		return
	}
	if first, ok := seen[key]; ok {
		ps.add(path, fmt.Sprintf("%q is declared twice (first at %s)", key, first))
		return
	}
	seen[key] = path
}

func checkUsers(ps *problems, t *tenantSpec, tp, dir string) {
	names, emails := map[string]string{}, map[string]string{}
	for j := range t.Users {
		u := &t.Users[j]
		p := index(join(tp, "users"), j)
		uu := user.User{Username: u.Username, Status: user.StatusActive}
		if u.Email != nil {
			uu.Email = *u.Email
		}
		if u.GivenName != nil {
			uu.GivenName = *u.GivenName
		}
		if u.FamilyName != nil {
			uu.FamilyName = *u.FamilyName
		}
		if u.Status != nil {
			uu.Status = user.Status(*u.Status)
		}
		uu.Normalize()
		ps.addFields(p, uu.Validate())
		u.Username = uu.Username
		if u.Email != nil {
			*u.Email = uu.Email
			dup(ps, emails, uu.Email, join(p, "email"))
		}
		dup(ps, names, uu.Username, join(p, "username"))
		resolvePassword(ps, u, p, dir)
	}
}

// resolvePassword reads the inline password or the password file into u.password.
func resolvePassword(ps *problems, u *userSpec, p, dir string) {
	switch {
	case u.Password != nil && u.PasswordFile != "":
		ps.add(join(p, "password_file"), "give either password or password_file, not both")
		return
	case u.Password != nil:
		u.password = secret(*u.Password)
		u.Password = nil // keep one copy only
	case u.PasswordFile != "":
		f := u.PasswordFile
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		b, err := readBounded(f, user.MaxPasswordLen+2)
		if err != nil {
			ps.add(join(p, "password_file"), "cannot be read: "+err.Error())
			return
		}
		// One trailing newline is what editors and `echo` add; it is not part of the password.
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		u.password = secret(s)
	default:
		return
	}
	pp := join(p, "password")
	if u.PasswordFile != "" {
		pp = join(p, "password_file")
	}
	for _, e := range user.ValidatePassword(string(u.password)) {
		ps.add(pp, "the password "+e.Detail)
	}
}

// checkGroups checks group fields and member names; whether a member that the file
// does not declare exists on the server is for the plan to find out.
func checkGroups(ps *problems, t *tenantSpec, tp string) {
	names := map[string]string{}
	for j := range t.Groups {
		g := &t.Groups[j]
		p := index(join(tp, "groups"), j)
		gg := user.Group{Name: g.Name}
		if g.Description != nil {
			gg.Description = *g.Description
		}
		ps.addFields(p, gg.Validate())
		dup(ps, names, g.Name, join(p, "name"))
		members := map[string]string{}
		for k, m := range g.Members {
			mp := index(join(p, "members"), k)
			mu := user.User{Username: m, Status: user.StatusActive}
			mu.Normalize()
			for _, e := range mu.Validate() {
				ps.add(mp, "username "+e.Detail)
			}
			g.Members[k] = mu.Username
			dup(ps, members, mu.Username, mp)
		}
	}
}

func checkApps(ps *problems, t *tenantSpec, tp string) {
	ids := map[string]string{}
	for j := range t.Applications {
		a := &t.Applications[j]
		p := index(join(tp, "applications"), j)
		if a.ClientID == "" {
			ps.add(join(p, "client_id"), "is required: it is how a re-apply finds the application")
		}
		ca := a.desired()
		es := ca.Validate()
		for _, e := range es {
			if e.Field == "client_id" && a.ClientID == "" {
				continue
			}
			ps.add(join(p, e.Field), e.Detail)
		}
		dup(ps, ids, a.ClientID, join(p, "client_id"))
	}
}

// desired is the tenant as the file wants it, with defaults for what it leaves out, for
// validation only (omitted fields are not managed).
func (t tenantSpec) desired() tenant.Tenant {
	tt := tenant.Tenant{Slug: t.Slug, DisplayName: t.DisplayName, Status: tenant.StatusActive}
	if t.Status != nil {
		tt.Status = tenant.Status(*t.Status)
	}
	if t.PrimaryColor != nil {
		tt.PrimaryColor = *t.PrimaryColor
	}
	if t.LockoutThreshold != nil {
		tt.Lockout.Threshold = int(max(min(*t.LockoutThreshold, 1<<31), -1)) // out of range stays out of range
	}
	if t.LockoutDurationSeconds != nil {
		tt.Lockout.Duration = time.Duration(max(min(*t.LockoutDurationSeconds, 1<<32), -1)) * time.Second
	}
	if t.UserImport != nil {
		tt.UserImport.URL = t.UserImport.URL
	}
	tt.ApplyDefaults()
	return tt
}

// desired is the application as the server will hold it after a create: the file's
// fields with the server's defaults applied, so omitted defaults never show as a diff.
func (a appSpec) desired() client.Application {
	ca := client.Application{
		ClientID:                 a.ClientID,
		ClientName:               a.ClientName,
		Type:                     client.Type(a.Type),
		RedirectURIs:             a.RedirectURIs,
		PostLogoutRedirectURIs:   a.PostLogoutRedirectURIs,
		GrantTypes:               a.GrantTypes,
		ResponseTypes:            a.ResponseTypes,
		TokenEndpointAuthMethod:  a.TokenEndpointAuthMethod,
		IDTokenSignedResponseAlg: a.IDTokenSignedResponseAlg,
		JWKS:                     a.jwksJSON(),
	}
	ca.ApplyDefaults()
	return ca
}

// jwksJSON is the file's JWKS as JSON (keys sorted), or nil when there is none.
func (a appSpec) jwksJSON() []byte {
	if a.JWKS == nil {
		return nil
	}
	b, err := json.Marshal(a.JWKS)
	if err != nil { // values decoded from JSON always marshal
		return nil
	}
	return b
}
