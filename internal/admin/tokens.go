package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
)

// tokenJSON describes an admin API token. Tenant is the slug of a scoped token's tenant
// and empty for a global one; Scope is "admin" or "provision"; Token is set only in the
// creation response.
type tokenJSON struct {
	ID        uuid.UUID      `json:"id"`
	Name      string         `json:"name"`
	Tenant    string         `json:"tenant,omitempty"`
	Scope     apitoken.Scope `json:"scope"`
	CreatedAt time.Time      `json:"created_at"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	Token     string         `json:"token,omitempty"`
}

func toTokenJSON(t apitoken.Token, slug string) tokenJSON {
	scope := t.Scope
	if scope == "" {
		scope = apitoken.ScopeAdmin
	}
	out := tokenJSON{ID: t.ID, Name: t.Name, Tenant: slug, Scope: scope, CreatedAt: t.CreatedAt}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt
		out.ExpiresAt = &exp
	}
	return out
}

type tokenCreate struct {
	Name      string         `json:"name"`
	Tenant    string         `json:"tenant"`
	Scope     apitoken.Scope `json:"scope"`      // "" = "admin"
	ExpiresAt string         `json:"expires_at"` // RFC 3339; parsed here to report a field error
}

func (a *API) createToken(c *call) error {
	var in tokenCreate
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	tok := apitoken.Token{Name: in.Name, Scope: in.Scope}
	if tok.Scope == "" {
		tok.Scope = apitoken.ScopeAdmin
	}
	es := tok.Validate()
	if in.ExpiresAt != "" {
		exp, err := time.Parse(time.RFC3339, in.ExpiresAt)
		switch {
		case err != nil:
			es.Add("expires_at", "must be an RFC 3339 date-time such as 2030-01-31T00:00:00Z")
		case !exp.After(a.now()):
			es.Add("expires_at", "must be in the future")
		}
		tok.ExpiresAt = exp
	}
	if in.Tenant != "" {
		t, err := c.st.TenantBySlug(c.r.Context(), in.Tenant)
		switch {
		case isNotFound(err):
			es.Add("tenant", "no such tenant")
		case err != nil:
			return err
		}
		tok.TenantID, c.tenant = t.ID, t
	}
	if err := es.Err(); err != nil {
		return err
	}
	secret, digest := apitoken.Generate()
	tok.Digest = digest
	tok, err := c.st.CreateAPIToken(c.r.Context(), tok)
	if err != nil {
		return err
	}
	a.audit(c, tok.ID.String())
	out := toTokenJSON(tok, in.Tenant)
	out.Token = secret
	c.w.Header().Set("Location", "/admin/v1/tokens/"+tok.ID.String())
	return writeJSON(c.w, http.StatusCreated, out)
}

func (a *API) listTokens(c *call) error {
	opts, err := listOptions(c.r.URL.Query())
	if err != nil {
		return err
	}
	page, err := c.st.ListAPITokens(c.r.Context(), opts)
	if err != nil {
		return err
	}
	slugs, err := slugs(c.r.Context(), c.st, page.Items)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, toList(page, func(t apitoken.Token) tokenJSON {
		return toTokenJSON(t, slugs[t.TenantID])
	}))
}

// slugs maps the tenants of scoped tokens to their slugs, one lookup per tenant.
func slugs(ctx context.Context, st Store, toks []apitoken.Token) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	for _, t := range toks {
		if t.Global() {
			continue
		}
		if _, seen := out[t.TenantID]; seen {
			continue
		}
		tn, err := st.Tenant(ctx, t.TenantID)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		out[t.TenantID] = tn.Slug
	}
	return out, nil
}

func (a *API) deleteToken(c *call) error {
	id, err := pathID(c.r, "id", "token")
	if err != nil {
		return err
	}
	if err := c.st.DeleteAPIToken(c.r.Context(), id); err != nil {
		return orNotFound(err, "token")
	}
	a.audit(c, id.String())
	return noContent(c.w)
}
