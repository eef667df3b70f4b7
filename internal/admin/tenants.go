package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/tenant"
)

type tenantJSON struct {
	ID                     uuid.UUID     `json:"id"`
	Slug                   string        `json:"slug"`
	DisplayName            string        `json:"display_name"`
	Status                 tenant.Status `json:"status"`
	PrimaryColor           string        `json:"primary_color"`
	LockoutThreshold       int           `json:"lockout_threshold"`
	LockoutDurationSeconds int64         `json:"lockout_duration_seconds"`
	KeyGeneration          int64         `json:"key_generation"`
	UserImport             *userImport   `json:"user_import"` // null: no import source
	Issuer                 string        `json:"issuer"`
	Version                int64         `json:"version"`
	CreatedAt              time.Time     `json:"created_at"`
	UpdatedAt              time.Time     `json:"updated_at"`
}

func (a *API) tenantJSON(t tenant.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Slug: t.Slug, DisplayName: t.DisplayName, Status: t.Status,
		PrimaryColor: t.PrimaryColor, LockoutThreshold: t.Lockout.Threshold,
		LockoutDurationSeconds: int64(t.Lockout.Duration / time.Second), KeyGeneration: t.KeyGeneration,
		UserImport: toUserImport(t.UserImport), Issuer: a.issuer(t.Slug), Version: t.Version,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// userImport is a tenant's just-in-time import source on the wire: null or an object
// whose url is the legacy password-check endpoint.
type userImport struct {
	URL string `json:"url"`
}

// UnmarshalJSON is strict about unknown members even inside a merge patch, whose
// optional fields decode their values on their own.
func (u *userImport) UnmarshalJSON(b []byte) error {
	type plain userImport
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(u))
}

func toUserImport(u tenant.UserImport) *userImport {
	if !u.Enabled() {
		return nil
	}
	return &userImport{URL: u.URL}
}

// fromUserImport: null, or an object with an empty url, is no import source.
func fromUserImport(u *userImport) tenant.UserImport {
	if u == nil {
		return tenant.UserImport{}
	}
	return tenant.UserImport{URL: u.URL}
}

// seconds converts a lockout duration from the wire, saturating instead of overflowing
// so that an absurd value fails validation rather than wrapping into a valid one.
func seconds(n int64) time.Duration {
	const maxSeconds = int64(1<<63-1) / int64(time.Second)
	switch {
	case n > maxSeconds:
		n = maxSeconds
	case n < -maxSeconds:
		n = -maxSeconds
	}
	return time.Duration(n) * time.Second
}

// issuer is the tenant's OIDC issuer: PublicURL + "/t/" + slug, no trailing slash.
func (a *API) issuer(slug string) string { return a.publicURL + "/t/" + slug }

// tenantCreate: lockout fields left out (or 0) take the defaults.
type tenantCreate struct {
	Slug                   string        `json:"slug"`
	DisplayName            string        `json:"display_name"`
	Status                 tenant.Status `json:"status"`
	PrimaryColor           string        `json:"primary_color"`
	LockoutThreshold       int           `json:"lockout_threshold"`
	LockoutDurationSeconds int64         `json:"lockout_duration_seconds"`
	UserImport             *userImport   `json:"user_import"`
}

// tenantPatch: null resets a lockout field to its default. key_generation is read-only:
// accepted only with the current value (so a GET body can be sent back).
type tenantPatch struct {
	Slug                   optional[string]        `json:"slug"`
	DisplayName            optional[string]        `json:"display_name"`
	Status                 optional[tenant.Status] `json:"status"`
	PrimaryColor           optional[string]        `json:"primary_color"`
	LockoutThreshold       optional[int]           `json:"lockout_threshold"`
	LockoutDurationSeconds optional[int64]         `json:"lockout_duration_seconds"`
	KeyGeneration          optional[int64]         `json:"key_generation"`
	// UserImport replaces the import source as a whole; null removes it.
	UserImport optional[*userImport] `json:"user_import"`
}

func (a *API) createTenant(c *call) error {
	var in tenantCreate
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	t := tenant.Tenant{Slug: in.Slug, DisplayName: in.DisplayName, Status: in.Status, PrimaryColor: in.PrimaryColor,
		Lockout:    tenant.LockoutPolicy{Threshold: in.LockoutThreshold, Duration: seconds(in.LockoutDurationSeconds)},
		UserImport: fromUserImport(in.UserImport)}
	t.ApplyDefaults()
	if err := t.Validate().Err(); err != nil {
		return err
	}
	// The keys are sealed for the tenant's ID, so the ID is chosen here.
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	t.ID = id
	ks, err := keys.NewSet(t.ID, a.kek)
	if err != nil {
		return fmt.Errorf("admin: new tenant's signing keys: %w", err)
	}
	t, err = c.st.CreateTenantWithKeys(c.r.Context(), t, ks)
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
	page, err := c.st.ListTenants(c.r.Context(), opts)
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
		func() (tenant.Tenant, error) { return c.st.Tenant(ctx, id) },
		func(t tenant.Tenant) int64 { return t.Version },
		func(t *tenant.Tenant) error { return in.apply(t) },
		func(t tenant.Tenant) (tenant.Tenant, error) { return c.st.UpdateTenant(ctx, t) })
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
	if p.KeyGeneration.Set && p.KeyGeneration.Value != t.KeyGeneration {
		es.Add("key_generation", "is read-only; rotate the keys with POST /admin/v1/tenants/{tenant}/keys/rotate")
	}
	if p.Status.Set {
		t.Status = p.Status.Value
	}
	set(&t.PrimaryColor, p.PrimaryColor)
	set(&t.Lockout.Threshold, p.LockoutThreshold)
	if p.LockoutDurationSeconds.Set {
		t.Lockout.Duration = seconds(p.LockoutDurationSeconds.Value)
	}
	if p.UserImport.Set {
		t.UserImport = fromUserImport(p.UserImport.Value)
	}
	t.ApplyDefaults()
	return append(es, t.Validate()...).Err()
}

func (a *API) deleteTenant(c *call) error {
	if err := c.st.DeleteTenant(c.r.Context(), c.tenant.ID); err != nil {
		return err
	}
	a.audit(c, c.tenant.ID.String())
	return noContent(c.w)
}
