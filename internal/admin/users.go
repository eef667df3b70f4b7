package admin

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/user"
)

type userJSON struct {
	ID            uuid.UUID   `json:"id"`
	Username      string      `json:"username"`
	Email         string      `json:"email"`
	EmailVerified bool        `json:"email_verified"`
	GivenName     string      `json:"given_name"`
	FamilyName    string      `json:"family_name"`
	Status        user.Status `json:"status"`
	HasPassword   bool        `json:"has_password"`
	LastLoginAt   *time.Time  `json:"last_login_at"` // null when the user never signed in
	Version       int64       `json:"version"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// toUserJSON never copies PasswordHash: only whether there is one.
func toUserJSON(u user.User) userJSON {
	var last *time.Time
	if !u.LastLoginAt.IsZero() {
		last = &u.LastLoginAt
	}
	return userJSON{LastLoginAt: last, ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		GivenName: u.GivenName, FamilyName: u.FamilyName, Status: u.Status, HasPassword: u.PasswordHash != "",
		Version: u.Version, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type userCreate struct {
	Username      string      `json:"username"`
	Email         string      `json:"email"`
	EmailVerified bool        `json:"email_verified"`
	GivenName     string      `json:"given_name"`
	FamilyName    string      `json:"family_name"`
	Status        user.Status `json:"status"`
	Password      *string     `json:"password"`
}

type userPatch struct {
	Username      optional[string]      `json:"username"`
	Email         optional[string]      `json:"email"`
	EmailVerified optional[bool]        `json:"email_verified"`
	GivenName     optional[string]      `json:"given_name"`
	FamilyName    optional[string]      `json:"family_name"`
	Status        optional[user.Status] `json:"status"`
}

type passwordSet struct {
	Password string `json:"password"`
}

func (a *API) createUser(c *call) error {
	if err := a.provisionCreate(c, nil); err != nil {
		return err
	}
	var in userCreate
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	if err := a.provisionCreate(c, &in); err != nil {
		return err
	}
	u := user.User{Username: in.Username, Email: in.Email, EmailVerified: in.EmailVerified,
		GivenName: in.GivenName, FamilyName: in.FamilyName, Status: in.Status}
	if u.Status == "" {
		u.Status = user.StatusActive
	}
	u.Normalize()
	es := u.Validate()
	if in.Password != nil {
		es = append(es, user.ValidatePassword(*in.Password)...)
	}
	if err := es.Err(); err != nil {
		return err
	}
	if in.Password != nil {
		hash, err := a.passwords.Hash(c.r.Context(), *in.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
	}
	u, err := c.st.CreateUser(c.r.Context(), c.tenant.ID, u)
	if err != nil {
		return err
	}
	a.audit(c, u.ID.String())
	c.w.Header().Set("Location", "/admin/v1/tenants/"+c.tenant.Slug+"/users/"+u.ID.String())
	return writeEntity(c.w, http.StatusCreated, u.Version, toUserJSON(u))
}

func (a *API) listUsers(c *call) error {
	q := c.r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		return err
	}
	username, byName, err := filter(q, "username")
	if err != nil {
		return err
	}
	email, byEmail, err := filter(q, "email")
	if err != nil {
		return err
	}
	if err := a.provisionList(c, byName); err != nil {
		return err
	}
	if !byName && !byEmail {
		page, err := c.st.ListUsers(c.r.Context(), c.tenant.ID, opts)
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, toList(page, toUserJSON))
	}
	key := user.User{Username: username, Email: email}
	key.Normalize()
	var u user.User
	if byName {
		u, err = c.st.UserByUsername(c.r.Context(), c.tenant.ID, key.Username)
	} else {
		u, err = c.st.UserByEmail(c.r.Context(), c.tenant.ID, key.Email)
	}
	page := store.Page[user.User]{}
	switch {
	case err == nil && (!byEmail || u.Email == key.Email):
		page.Items = []user.User{u}
	case err != nil && !isNotFound(err):
		return err
	}
	return writeJSON(c.w, http.StatusOK, toList(page, toUserJSON))
}

func (a *API) getUser(c *call) error {
	id, err := pathID(c.r, "id", "user")
	if err != nil {
		return err
	}
	u, err := c.st.User(c.r.Context(), c.tenant.ID, id)
	if err != nil {
		return orNotFound(err, "user")
	}
	return writeEntity(c.w, http.StatusOK, u.Version, toUserJSON(u))
}

func (a *API) patchUser(c *call) error {
	id, err := pathID(c.r, "id", "user")
	if err != nil {
		return err
	}
	var in userPatch
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON, mediaMergePatch); err != nil {
		return err
	}
	u, err := a.updateUser(c, id, in.apply)
	if err != nil {
		return err
	}
	return writeEntity(c.w, http.StatusOK, u.Version, toUserJSON(u))
}

// apply changes the present fields. A changed e-mail address is no longer verified
// unless the same patch says it is.
func (p userPatch) apply(u *user.User) error {
	oldEmail := u.Email
	set(&u.Username, p.Username)
	set(&u.Email, p.Email)
	set(&u.GivenName, p.GivenName)
	set(&u.FamilyName, p.FamilyName)
	set(&u.Status, p.Status)
	u.Normalize()
	if u.Email != oldEmail {
		u.EmailVerified = false
	}
	set(&u.EmailVerified, p.EmailVerified)
	return u.Validate().Err()
}

func set[T any](dst *T, o optional[T]) {
	if o.Set {
		*dst = o.Value
	}
}

func (a *API) updateUser(c *call, id uuid.UUID, apply func(*user.User) error) (user.User, error) {
	ctx, tid := c.r.Context(), c.tenant.ID
	u, err := update(c.r,
		func() (user.User, error) { u, err := c.st.User(ctx, tid, id); return u, orNotFound(err, "user") },
		func(u user.User) int64 { return u.Version },
		apply,
		func(u user.User) (user.User, error) { return c.st.UpdateUser(ctx, tid, u) })
	if err == nil {
		a.audit(c, u.ID.String())
	}
	return u, err
}

func (a *API) setPassword(c *call) error {
	id, err := pathID(c.r, "id", "user")
	if err != nil {
		return err
	}
	var in passwordSet
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	if err := user.ValidatePassword(in.Password).Err(); err != nil {
		return err
	}
	// Check the user exists before paying for a hash.
	if _, err := c.st.User(c.r.Context(), c.tenant.ID, id); err != nil {
		return orNotFound(err, "user")
	}
	hash, err := a.passwords.Hash(c.r.Context(), in.Password)
	if err != nil {
		return err
	}
	u, err := a.updateUser(c, id, func(u *user.User) error { u.PasswordHash = hash; return nil })
	if err != nil {
		return err
	}
	c.w.Header().Set("ETag", etag(u.Version))
	return noContent(c.w)
}

func (a *API) deleteUser(c *call) error {
	id, err := pathID(c.r, "id", "user")
	if err != nil {
		return err
	}
	if err := c.st.DeleteUser(c.r.Context(), c.tenant.ID, id); err != nil {
		return orNotFound(err, "user")
	}
	a.audit(c, id.String())
	return noContent(c.w)
}
