package oidc

import (
	"net/http"

	"github.com/google/uuid"
)

// discoveryDoc is the OpenID Provider metadata (OIDC Discovery §3, RFC 8414 §2).
type discoveryDoc struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	AuthorizationResponseIssParameter bool     `json:"authorization_response_iss_parameter_supported"`
}

func (p *Provider) discoveryDocument(tc tenantCtx) discoveryDoc {
	e := func(path string) string { return p.endpoint(tc, path) }
	auth := []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
	confidential := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	return discoveryDoc{
		Issuer: tc.Issuer, AuthorizationEndpoint: e(pathAuthorize), TokenEndpoint: e(pathToken),
		UserinfoEndpoint: e(pathUserinfo), JWKSURI: e(pathKeys), RevocationEndpoint: e(pathRevoke),
		IntrospectionEndpoint: e(pathIntrospect), EndSessionEndpoint: e(pathEndSession),
		DeviceAuthorizationEndpoint: e(pathDeviceAuth),
		ScopesSupported:             userScopes,
		ResponseTypesSupported:      []string{"code"},
		ResponseModesSupported:      []string{"query", "form_post"},
		GrantTypesSupported: []string{"authorization_code", "refresh_token", "client_credentials",
			"urn:ietf:params:oauth:grant-type:device_code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256", "ES256", "EdDSA"},
		TokenEndpointAuthMethodsSupported: auth,
		TokenEndpointAuthSigningAlgs:      []string{"RS256", "PS256", "ES256", "EdDSA"},
		IntrospectionAuthMethodsSupported: confidential,
		RevocationAuthMethodsSupported:    auth,
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "sid",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified", "groups"},
		PromptValuesSupported:             []string{"none", "login", "select_account"}, // no consent screen: see parseAuthorize
		AuthorizationResponseIssParameter: true,
	}
}

// discovery serves the tenant's OpenID Provider metadata.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, p.discoveryDocument(tenantFrom(r.Context())))
}

// jwks serves the tenant's public keys: next, current and previous of every algorithm
// (RFC 7517 §5), so verifiers know a key before it signs and after it stops.
func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	tc := tenantFrom(r.Context())
	tk, err := p.keys.load(r.Context(), tc.T.ID)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(tk.jwks)
}

func parseUUID(s string) (uuid.UUID, error) { return uuid.Parse(s) }
