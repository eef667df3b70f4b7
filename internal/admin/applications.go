package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/field"
	"github.com/ninesid/nines/internal/store"
)

// applicationJSON uses the RFC 7591 §2 member names. It never carries the secret digest;
// ClientSecret is set only in the response that generated the secret.
type applicationJSON struct {
	ID                      uuid.UUID   `json:"id"`
	ClientID                string      `json:"client_id"`
	ClientName              string      `json:"client_name"`
	Type                    client.Type `json:"type"`
	RedirectURIs            []string    `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string    `json:"post_logout_redirect_uris"`
	GrantTypes              []string    `json:"grant_types"`
	ResponseTypes           []string    `json:"response_types"`
	TokenEndpointAuthMethod string      `json:"token_endpoint_auth_method"`
	// IDTokenSignedResponseAlg and JWKS use the RFC 7591 names; JWKS is null when the
	// client has none.
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	JWKS                     json.RawMessage `json:"jwks"`
	Version                  int64           `json:"version"`
	CreatedAt                time.Time       `json:"created_at"`
	UpdatedAt                time.Time       `json:"updated_at"`
	ClientSecret             string          `json:"client_secret,omitempty"`
}

func toApplicationJSON(a client.Application) applicationJSON {
	return applicationJSON{ID: a.ID, ClientID: a.ClientID, ClientName: a.ClientName, Type: a.Type,
		RedirectURIs: nonNil(a.RedirectURIs), PostLogoutRedirectURIs: nonNil(a.PostLogoutRedirectURIs),
		GrantTypes: nonNil(a.GrantTypes), ResponseTypes: nonNil(a.ResponseTypes),
		TokenEndpointAuthMethod: a.TokenEndpointAuthMethod, IDTokenSignedResponseAlg: a.IDTokenSignedResponseAlg,
		JWKS: jwksOut(a.JWKS), Version: a.Version, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// jwksOut is a stored JWKS for a response: JSON null when there is none.
func jwksOut(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

// jwksIn is a JWKS from a request as stored: nil for absent or null, else compact JSON
// (the decoder has already checked that it is JSON; Validate checks what it holds).
func jwksIn(raw json.RawMessage) []byte {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, t); err != nil {
		return t
	}
	return buf.Bytes()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type applicationCreate struct {
	ClientID                 string          `json:"client_id"`
	ClientName               string          `json:"client_name"`
	Type                     client.Type     `json:"type"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	JWKS                     json.RawMessage `json:"jwks"`
}

type applicationPatch struct {
	ClientID                 optional[string]          `json:"client_id"`
	ClientName               optional[string]          `json:"client_name"`
	Type                     optional[client.Type]     `json:"type"`
	RedirectURIs             optional[[]string]        `json:"redirect_uris"`
	PostLogoutRedirectURIs   optional[[]string]        `json:"post_logout_redirect_uris"`
	GrantTypes               optional[[]string]        `json:"grant_types"`
	ResponseTypes            optional[[]string]        `json:"response_types"`
	TokenEndpointAuthMethod  optional[string]          `json:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg optional[string]          `json:"id_token_signed_response_alg"`
	JWKS                     optional[json.RawMessage] `json:"jwks"`
}

type secretJSON struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (a *API) createApplication(c *call) error {
	var in applicationCreate
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	app := client.Application{ClientID: in.ClientID, ClientName: in.ClientName, Type: in.Type,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		GrantTypes: in.GrantTypes, ResponseTypes: in.ResponseTypes, TokenEndpointAuthMethod: in.TokenEndpointAuthMethod,
		IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg, JWKS: jwksIn(in.JWKS)}
	if app.ClientID == "" {
		app.ClientID = client.GenerateClientID()
	}
	app.ApplyDefaults()
	if err := app.Validate().Err(); err != nil {
		return err
	}
	var secret string
	if app.UsesSecret() {
		secret, app.SecretDigest = client.GenerateSecret()
	}
	app, err := c.st.CreateApplication(c.r.Context(), c.tenant.ID, app)
	if err != nil {
		return err
	}
	a.audit(c, app.ID.String())
	out := toApplicationJSON(app)
	out.ClientSecret = secret
	c.w.Header().Set("Location", "/admin/v1/tenants/"+c.tenant.Slug+"/applications/"+app.ID.String())
	return writeEntity(c.w, http.StatusCreated, app.Version, out)
}

func (a *API) listApplications(c *call) error {
	q := c.r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		return err
	}
	clientID, byID, err := filter(q, "client_id")
	if err != nil {
		return err
	}
	if !byID {
		page, err := c.st.ListApplications(c.r.Context(), c.tenant.ID, opts)
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, toList(page, toApplicationJSON))
	}
	page := store.Page[client.Application]{}
	app, err := c.st.ApplicationByClientID(c.r.Context(), c.tenant.ID, clientID)
	switch {
	case err == nil:
		page.Items = []client.Application{app}
	case !isNotFound(err):
		return err
	}
	return writeJSON(c.w, http.StatusOK, toList(page, toApplicationJSON))
}

func (a *API) loadApplication(c *call, id uuid.UUID) (client.Application, error) {
	app, err := c.st.Application(c.r.Context(), c.tenant.ID, id)
	return app, orNotFound(err, "application")
}

func (a *API) getApplication(c *call) error {
	id, err := pathID(c.r, "id", "application")
	if err != nil {
		return err
	}
	app, err := a.loadApplication(c, id)
	if err != nil {
		return err
	}
	return writeEntity(c.w, http.StatusOK, app.Version, toApplicationJSON(app))
}

func (a *API) patchApplication(c *call) error {
	id, err := pathID(c.r, "id", "application")
	if err != nil {
		return err
	}
	var in applicationPatch
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON, mediaMergePatch); err != nil {
		return err
	}
	app, err := a.updateApplication(c, id, in.apply)
	if err != nil {
		return err
	}
	return writeEntity(c.w, http.StatusOK, app.Version, toApplicationJSON(app))
}

// apply changes the present fields and re-validates the whole registration. An
// application that stops using a secret loses its digest; one that starts using a
// secret has none until POST …/secret generates it.
func (p applicationPatch) apply(app *client.Application) error {
	var es field.Errors
	if p.ClientID.Set && p.ClientID.Value != app.ClientID {
		es.Add("client_id", "is immutable")
	}
	if p.Type.Set && p.Type.Value != app.Type {
		es.Add("type", "is immutable")
	}
	set(&app.ClientName, p.ClientName)
	set(&app.RedirectURIs, p.RedirectURIs)
	set(&app.PostLogoutRedirectURIs, p.PostLogoutRedirectURIs)
	set(&app.GrantTypes, p.GrantTypes)
	set(&app.ResponseTypes, p.ResponseTypes)
	set(&app.TokenEndpointAuthMethod, p.TokenEndpointAuthMethod)
	set(&app.IDTokenSignedResponseAlg, p.IDTokenSignedResponseAlg)
	if p.JWKS.Set {
		app.JWKS = jwksIn(p.JWKS.Value)
	}
	app.ApplyDefaults()
	if !app.UsesSecret() {
		app.SecretDigest = nil
	}
	return append(es, app.Validate()...).Err()
}

func (a *API) updateApplication(c *call, id uuid.UUID, apply func(*client.Application) error) (client.Application, error) {
	ctx, tid := c.r.Context(), c.tenant.ID
	app, err := update(c.r,
		func() (client.Application, error) { return a.loadApplication(c, id) },
		func(app client.Application) int64 { return app.Version },
		apply,
		func(app client.Application) (client.Application, error) {
			return c.st.UpdateApplication(ctx, tid, app)
		})
	if err == nil {
		a.audit(c, app.ID.String())
	}
	return app, err
}

// rotateSecret replaces the secret; the old one stops working at once. There is no
// overlap window: a client that needs one registers a second application.
func (a *API) rotateSecret(c *call) error {
	id, err := pathID(c.r, "id", "application")
	if err != nil {
		return err
	}
	secret, digest := client.GenerateSecret()
	app, err := a.updateApplication(c, id, func(app *client.Application) error {
		if !app.UsesSecret() {
			return conflict("this application authenticates without a client secret ("+
				app.TokenEndpointAuthMethod+")", nil)
		}
		app.SecretDigest = digest
		return nil
	})
	if err != nil {
		return err
	}
	return writeEntity(c.w, http.StatusOK, app.Version, secretJSON{ClientID: app.ClientID, ClientSecret: secret})
}

func (a *API) deleteApplication(c *call) error {
	id, err := pathID(c.r, "id", "application")
	if err != nil {
		return err
	}
	if err := c.st.DeleteApplication(c.r.Context(), c.tenant.ID, id); err != nil {
		return orNotFound(err, "application")
	}
	a.audit(c, id.String())
	return noContent(c.w)
}
