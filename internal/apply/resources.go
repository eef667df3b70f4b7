package apply

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Wire types: the fields apply reads. Unknown fields in answers are ignored, so the
// server may add fields freely.

type apiTenant struct {
	ID                     string `json:"id"`
	Slug                   string `json:"slug"`
	DisplayName            string `json:"display_name"`
	Status                 string `json:"status"`
	PrimaryColor           string `json:"primary_color"`
	LockoutThreshold       int64  `json:"lockout_threshold"`
	LockoutDurationSeconds int64  `json:"lockout_duration_seconds"`
	KeyGeneration          int64  `json:"key_generation"`
	UserImport             *struct {
		URL string `json:"url"`
	} `json:"user_import"` // null: none
}

// importURL is the server's import source URL, "" when there is none.
func (t apiTenant) importURL() string {
	if t.UserImport == nil {
		return ""
	}
	return t.UserImport.URL
}

type apiUser struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Status        string `json:"status"`
}

type apiGroup struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

type apiApp struct {
	ID                       string          `json:"id"`
	ClientID                 string          `json:"client_id"`
	ClientName               string          `json:"client_name"`
	Type                     string          `json:"type"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	JWKS                     json.RawMessage `json:"jwks"`                    // null when none
	ClientSecret             string          `json:"client_secret,omitempty"` // only in a create's answer
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

const prefix = "/admin/v1/tenants/"

func tenantPath(slug string) string { return prefix + seg(slug) }

// tenant returns the tenant, or nil when there is none.
func (a *api) tenant(ctx context.Context, slug string) (*apiTenant, error) {
	var t apiTenant
	if err := a.do(ctx, http.MethodGet, tenantPath(slug), nil, nil, &t); err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &t, nil
}

func (a *api) createTenant(ctx context.Context, body map[string]any) error {
	return a.do(ctx, http.MethodPost, "/admin/v1/tenants", nil, body, nil)
}

func (a *api) patchTenant(ctx context.Context, slug string, patch map[string]any) error {
	return a.do(ctx, http.MethodPatch, tenantPath(slug), nil, patch, nil)
}

// rotateKeys rotates the tenant's signing keys once and returns the new key generation.
func (a *api) rotateKeys(ctx context.Context, slug string) (int64, error) {
	var out struct {
		KeyGeneration int64 `json:"key_generation"`
	}
	err := a.do(ctx, http.MethodPost, tenantPath(slug)+"/keys/rotate", nil, nil, &out)
	return out.KeyGeneration, err
}

// findOne lists collection filtered by key=value (an exact filter) and returns the item
// whose match(item) is true, or nil. The filter answers at most one item; the check
// guards against a server that ignores the filter.
func findOne[T any](ctx context.Context, a *api, path, key, value string, match func(T) bool) (*T, error) {
	var p page[T]
	if err := a.do(ctx, http.MethodGet, path, url.Values{key: {value}}, nil, &p); err != nil {
		return nil, err
	}
	for i := range p.Items {
		if match(p.Items[i]) {
			return &p.Items[i], nil
		}
	}
	return nil, nil
}

func (a *api) findUser(ctx context.Context, slug, username string) (*apiUser, error) {
	return findOne(ctx, a, tenantPath(slug)+"/users", "username", username,
		func(u apiUser) bool { return u.Username == username })
}

func (a *api) createUser(ctx context.Context, slug string, body map[string]any) (*apiUser, error) {
	var u apiUser
	return &u, a.do(ctx, http.MethodPost, tenantPath(slug)+"/users", nil, body, &u)
}

func (a *api) patchUser(ctx context.Context, slug, id string, patch map[string]any) error {
	return a.do(ctx, http.MethodPatch, tenantPath(slug)+"/users/"+seg(id), nil, patch, nil)
}

func (a *api) findGroup(ctx context.Context, slug, name string) (*apiGroup, error) {
	return findOne(ctx, a, tenantPath(slug)+"/groups", "name", name,
		func(g apiGroup) bool { return g.Name == name })
}

func (a *api) createGroup(ctx context.Context, slug string, body map[string]any) (*apiGroup, error) {
	var g apiGroup
	return &g, a.do(ctx, http.MethodPost, tenantPath(slug)+"/groups", nil, body, &g)
}

func (a *api) patchGroup(ctx context.Context, slug, id string, patch map[string]any) error {
	return a.do(ctx, http.MethodPatch, tenantPath(slug)+"/groups/"+seg(id), nil, patch, nil)
}

// maxMemberPages bounds the member listing: 1000 pages of up to 500 is far more than
// any group apply is meant for, and a server whose cursor never ends cannot loop us.
const maxMemberPages = 1000

func (a *api) members(ctx context.Context, slug, groupID string) ([]apiUser, error) {
	path := tenantPath(slug) + "/groups/" + seg(groupID) + "/members"
	var all []apiUser
	cursor := ""
	for range maxMemberPages {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page[apiUser]
		if err := a.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			return all, nil
		}
		if p.NextCursor == cursor {
			return nil, &apiError{Method: http.MethodGet, Path: path, Status: http.StatusOK,
				Problem: problemDoc{Title: "the server returned the same cursor twice"}}
		}
		cursor = p.NextCursor
	}
	return nil, &apiError{Method: http.MethodGet, Path: path, Status: http.StatusOK,
		Problem: problemDoc{Title: "more than 1000 pages of members"}}
}

func (a *api) addMember(ctx context.Context, slug, groupID, userID string) error {
	return a.do(ctx, http.MethodPost, tenantPath(slug)+"/groups/"+seg(groupID)+"/members", nil,
		map[string]any{"user_id": userID}, nil)
}

func (a *api) removeMember(ctx context.Context, slug, groupID, userID string) error {
	return a.do(ctx, http.MethodDelete, tenantPath(slug)+"/groups/"+seg(groupID)+"/members/"+seg(userID), nil, nil, nil)
}

func (a *api) findApp(ctx context.Context, slug, clientID string) (*apiApp, error) {
	return findOne(ctx, a, tenantPath(slug)+"/applications", "client_id", clientID,
		func(x apiApp) bool { return x.ClientID == clientID })
}

func (a *api) createApp(ctx context.Context, slug string, body map[string]any) (*apiApp, error) {
	var x apiApp
	return &x, a.do(ctx, http.MethodPost, tenantPath(slug)+"/applications", nil, body, &x)
}

// newSecret has the server generate a client secret (replacing any old one) and
// returns it.
func (a *api) newSecret(ctx context.Context, slug, id string) (string, error) {
	var out struct {
		ClientSecret string `json:"client_secret"`
	}
	err := a.do(ctx, http.MethodPost, tenantPath(slug)+"/applications/"+seg(id)+"/secret", nil, map[string]any{}, &out)
	return out.ClientSecret, err
}

func (a *api) patchApp(ctx context.Context, slug, id string, patch map[string]any) error {
	return a.do(ctx, http.MethodPatch, tenantPath(slug)+"/applications/"+seg(id), nil, patch, nil)
}
