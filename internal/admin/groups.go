package admin

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/user"
)

type groupJSON struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toGroupJSON(g user.Group) groupJSON {
	return groupJSON{ID: g.ID, Name: g.Name, Description: g.Description, Version: g.Version,
		CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

type groupCreate struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type groupPatch struct {
	Name        optional[string] `json:"name"`
	Description optional[string] `json:"description"`
}

type memberAdd struct {
	UserID string `json:"user_id"`
}

func (a *API) createGroup(c *call) error {
	var in groupCreate
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	g := user.Group{Name: in.Name, Description: in.Description}
	if err := g.Validate().Err(); err != nil {
		return err
	}
	g, err := c.st.CreateGroup(c.r.Context(), c.tenant.ID, g)
	if err != nil {
		return err
	}
	a.audit(c, g.ID.String())
	c.w.Header().Set("Location", "/admin/v1/tenants/"+c.tenant.Slug+"/groups/"+g.ID.String())
	return writeEntity(c.w, http.StatusCreated, g.Version, toGroupJSON(g))
}

func (a *API) listGroups(c *call) error {
	q := c.r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		return err
	}
	name, byName, err := filter(q, "name")
	if err != nil {
		return err
	}
	if !byName {
		page, err := c.st.ListGroups(c.r.Context(), c.tenant.ID, opts)
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, toList(page, toGroupJSON))
	}
	page := store.Page[user.Group]{}
	g, err := c.st.GroupByName(c.r.Context(), c.tenant.ID, name)
	switch {
	case err == nil:
		page.Items = []user.Group{g}
	case !isNotFound(err):
		return err
	}
	return writeJSON(c.w, http.StatusOK, toList(page, toGroupJSON))
}

// group loads the {id} group of the call's tenant.
func (a *API) group(c *call) (user.Group, error) {
	id, err := pathID(c.r, "id", "group")
	if err != nil {
		return user.Group{}, err
	}
	g, err := c.st.Group(c.r.Context(), c.tenant.ID, id)
	return g, orNotFound(err, "group")
}

func (a *API) getGroup(c *call) error {
	g, err := a.group(c)
	if err != nil {
		return err
	}
	return writeEntity(c.w, http.StatusOK, g.Version, toGroupJSON(g))
}

func (a *API) patchGroup(c *call) error {
	id, err := pathID(c.r, "id", "group")
	if err != nil {
		return err
	}
	var in groupPatch
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON, mediaMergePatch); err != nil {
		return err
	}
	ctx, tid := c.r.Context(), c.tenant.ID
	g, err := update(c.r,
		func() (user.Group, error) { g, err := c.st.Group(ctx, tid, id); return g, orNotFound(err, "group") },
		func(g user.Group) int64 { return g.Version },
		func(g *user.Group) error {
			set(&g.Name, in.Name)
			set(&g.Description, in.Description)
			return g.Validate().Err()
		},
		func(g user.Group) (user.Group, error) { return c.st.UpdateGroup(ctx, tid, g) })
	if err != nil {
		return err
	}
	a.audit(c, g.ID.String())
	return writeEntity(c.w, http.StatusOK, g.Version, toGroupJSON(g))
}

func (a *API) deleteGroup(c *call) error {
	id, err := pathID(c.r, "id", "group")
	if err != nil {
		return err
	}
	if err := c.st.DeleteGroup(c.r.Context(), c.tenant.ID, id); err != nil {
		return orNotFound(err, "group")
	}
	a.audit(c, id.String())
	return noContent(c.w)
}

func (a *API) listMembers(c *call) error {
	opts, err := listOptions(c.r.URL.Query())
	if err != nil {
		return err
	}
	g, err := a.group(c)
	if err != nil {
		return err
	}
	page, err := c.st.ListMembers(c.r.Context(), c.tenant.ID, g.ID, opts)
	if err != nil {
		return orNotFound(err, "group")
	}
	return writeJSON(c.w, http.StatusOK, toList(page, toUserJSON))
}

// addMember answers 204: membership is a relation, not an entity with a body. A user
// that is not in the tenant is a field error, not a missing resource: the path is fine.
func (a *API) addMember(c *call) error {
	g, err := a.group(c)
	if err != nil {
		return err
	}
	var in memberAdd
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	uid, err := uuid.Parse(in.UserID)
	switch {
	case in.UserID == "":
		return invalidField("user_id", "is required")
	case err != nil || len(in.UserID) != 36:
		return invalidField("user_id", "must be a UUID")
	}
	if _, err := c.st.User(c.r.Context(), c.tenant.ID, uid); err != nil {
		if isNotFound(err) {
			return invalidField("user_id", "no such user in this tenant")
		}
		return err
	}
	if err := c.st.AddMember(c.r.Context(), c.tenant.ID, g.ID, uid); err != nil {
		return orNotFound(err, "group")
	}
	a.audit(c, g.ID.String()+"/"+uid.String())
	return noContent(c.w)
}

func (a *API) removeMember(c *call) error {
	gid, err := pathID(c.r, "id", "group")
	if err != nil {
		return err
	}
	uid, err := pathID(c.r, "user_id", "member")
	if err != nil {
		return err
	}
	if err := c.st.RemoveMember(c.r.Context(), c.tenant.ID, gid, uid); err != nil {
		return orNotFound(err, "member")
	}
	a.audit(c, gid.String()+"/"+uid.String())
	return noContent(c.w)
}
