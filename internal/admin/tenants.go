package admin

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
	"github.com/ninesid/nines/internal/tenant"
)

type tenantJSON struct {
	ID          uuid.UUID     `json:"id"`
	Slug        string        `json:"slug"`
	DisplayName string        `json:"display_name"`
	Status      tenant.Status `json:"status"`
	Issuer      string        `json:"issuer"`
	Version     int64         `json:"version"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

func (a *API) tenantJSON(t tenant.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Slug: t.Slug, DisplayName: t.DisplayName, Status: t.Status,
		Issuer: a.issuer(t.Slug), Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// issuer is the tenant's OIDC issuer: PublicURL + "/t/" + slug, no trailing slash.
func (a *API) issuer(slug string) string { return a.publicURL + "/t/" + slug }

type tenantCreate struct {
	Slug        string        `json:"slug"`
	DisplayName string        `json:"display_name"`
	Status      tenant.Status `json:"status"`
}

type tenantPatch struct {
	Slug        optional[string]        `json:"slug"`
	DisplayName optional[string]        `json:"display_name"`
	Status      optional[tenant.Status] `json:"status"`
}

func (a *API) createTenant(c *call) error {
	var in tenantCreate
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	t := tenant.Tenant{Slug: in.Slug, DisplayName: in.DisplayName, Status: in.Status}
	t.ApplyDefaults()
	if err := t.Validate().Err(); err != nil {
		return err
	}
	t, err := a.store.CreateTenant(c.r.Context(), t)
	if err != nil {
		return err
	}
	c.tenant = t
	a.audit(c, t.ID.String())
	c.w.Header().Set("Location", "/admin/v1/tenants/"+t.Slug)
	return writeEntity(c.w, http.StatusCreated, t.Version, a.tenantJSON(t))
}

func (a *API) listTenants(c *call) error {
	opts, err := listOptions(c.r.URL.Query())
	if err != nil {
		return err
	}
	page, err := a.store.ListTenants(c.r.Context(), opts)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, toList(page, a.tenantJSON))
}

func (a *API) getTenant(c *call) error {
	return writeEntity(c.w, http.StatusOK, c.tenant.Version, a.tenantJSON(c.tenant))
}

func (a *API) patchTenant(c *call) error {
	var in tenantPatch
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON, mediaMergePatch); err != nil {
		return err
	}
	ctx, id := c.r.Context(), c.tenant.ID
	t, err := update(c.r,
		func() (tenant.Tenant, error) { return a.store.Tenant(ctx, id) },
		func(t tenant.Tenant) int64 { return t.Version },
		func(t *tenant.Tenant) error { return in.apply(t) },
		func(t tenant.Tenant) (tenant.Tenant, error) { return a.store.UpdateTenant(ctx, t) })
	if err != nil {
		return err
	}
	c.tenant = t
	a.audit(c, t.ID.String())
	return writeEntity(c.w, http.StatusOK, t.Version, a.tenantJSON(t))
}

func (p tenantPatch) apply(t *tenant.Tenant) error {
	var es field.Errors
	if p.Slug.Set && p.Slug.Value != t.Slug {
		es.Add("slug", "is immutable")
	}
	if p.DisplayName.Set {
		t.DisplayName = p.DisplayName.Value
	}
	if p.Status.Set {
		t.Status = p.Status.Value
	}
	t.ApplyDefaults()
	return append(es, t.Validate()...).Err()
}

func (a *API) deleteTenant(c *call) error {
	if err := a.store.DeleteTenant(c.r.Context(), c.tenant.ID); err != nil {
		return err
	}
	a.audit(c, c.tenant.ID.String())
	return noContent(c.w)
}
