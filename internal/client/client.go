// Package client holds applications — OAuth 2.0 / OIDC clients — and their pure rules:
// registration validation (RFC 6749 §2, RFC 7591 names, RFC 8252 for native apps), secret
// generation and digesting. It must never import a store or an HTTP package.
package client

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
)

// Type says whether a client can keep a secret (RFC 6749 §2.1).
type Type string

const (
	Confidential Type = "confidential"
	Public       Type = "public"
)

// Grant types nines knows (RFC 7591 §2 names).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Token endpoint authentication methods (RFC 7591 §2, OIDC Core §9).
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

var (
	knownGrants      = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}
	knownAuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthNone}
)

// Application is an OAuth 2.0 client registered in one tenant. ClientID is unique within
// the tenant. The secret itself is never stored: only SecretDigest.
type Application struct {
	ID                      uuid.UUID
	TenantID                uuid.UUID
	ClientID                string
	ClientName              string
	Type                    Type
	SecretDigest            []byte `json:"-"` // SHA-256 of the secret; nil for clients without a secret
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	TokenEndpointAuthMethod string
	// IDTokenSignedResponseAlg is the JWS algorithm of this client's ID tokens and
	// access tokens (RFC 7591 name): RS256 (default, required by OIDC), ES256 or EdDSA.
	IDTokenSignedResponseAlg string
	// JWKS is the client's public key set (RFC 7591 "jwks", JSON) for private_key_jwt
	// client authentication; empty otherwise.
	JWKS      []byte
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LogValue keeps the secret digest out of logs.
func (a Application) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.ID.String()), slog.String("client_id", a.ClientID))
}

// ApplyDefaults fills fields the client left empty with what a new registration gets:
// the authorization code grant, the "code" response type, and the authentication method
// that fits the client type.
func (a *Application) ApplyDefaults() {
	if a.Type == "" {
		a.Type = Confidential
	}
	if len(a.GrantTypes) == 0 {
		a.GrantTypes = []string{GrantAuthorizationCode}
	}
	if len(a.ResponseTypes) == 0 && slices.Contains(a.GrantTypes, GrantAuthorizationCode) {
		a.ResponseTypes = []string{"code"}
	}
	if a.TokenEndpointAuthMethod == "" {
		if a.Type == Public {
			a.TokenEndpointAuthMethod = AuthNone
		} else {
			a.TokenEndpointAuthMethod = AuthSecretBasic
		}
	}
	if a.IDTokenSignedResponseAlg == "" {
		a.IDTokenSignedResponseAlg = "RS256"
	}
	if a.RedirectURIs == nil {
		a.RedirectURIs = []string{}
	}
	if a.PostLogoutRedirectURIs == nil {
		a.PostLogoutRedirectURIs = []string{}
	}
	if a.ResponseTypes == nil {
		a.ResponseTypes = []string{}
	}
}

// UsesSecret reports whether the client authenticates with a shared secret.
func (a Application) UsesSecret() bool {
	return a.TokenEndpointAuthMethod == AuthSecretBasic || a.TokenEndpointAuthMethod == AuthSecretPost
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// Validate reports every problem with a's registration. Call ApplyDefaults first.
func (a Application) Validate() field.Errors {
	var es field.Errors
	if !clientIDPattern.MatchString(a.ClientID) {
		es.Add("client_id", "must be 1-128 characters: letters, digits and . _ ~ -")
	}
	if strings.TrimSpace(a.ClientName) == "" {
		es.Add("client_name", "is required")
	} else if len(a.ClientName) > 200 || !field.Line(a.ClientName) {
		es.Add("client_name", "must be valid UTF-8 of at most 200 bytes")
	}
	if a.Type != Confidential && a.Type != Public {
		es.Add("type", `must be "confidential" or "public"`)
	}
	if len(a.GrantTypes) > maxListed || len(a.ResponseTypes) > maxListed {
		es.Add("grant_types", "at most 10 grant types and 10 response types")
		return es
	}
	for _, g := range a.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			es.Add("grant_types", "unsupported grant type "+quote(g))
		}
	}
	if a.Type == Public && slices.Contains(a.GrantTypes, GrantClientCredentials) {
		es.Add("grant_types", "client_credentials needs a confidential client")
	}
	for _, r := range a.ResponseTypes {
		if r != "code" {
			es.Add("response_types", "unsupported response type "+quote(r)+` (only "code")`)
		}
	}
	switch m := a.TokenEndpointAuthMethod; {
	case !slices.Contains(knownAuthMethods, m):
		es.Add("token_endpoint_auth_method", "unsupported method "+quote(m))
	case a.Type == Public && m != AuthNone:
		es.Add("token_endpoint_auth_method", `a public client must use "none"`)
	case a.Type == Confidential && m == AuthNone:
		es.Add("token_endpoint_auth_method", `a confidential client cannot use "none"`)
	}
	switch a.IDTokenSignedResponseAlg {
	case "RS256", "ES256", "EdDSA":
	default:
		es.Add("id_token_signed_response_alg", `must be "RS256", "ES256" or "EdDSA"`)
	}
	checkJWKS(&es, a)
	needsRedirect := slices.Contains(a.GrantTypes, GrantAuthorizationCode)
	if needsRedirect && len(a.RedirectURIs) == 0 {
		es.Add("redirect_uris", "at least one is required for the authorization_code grant")
	}
	checkURIs(&es, "redirect_uris", a.RedirectURIs, a.Type)
	checkURIs(&es, "post_logout_redirect_uris", a.PostLogoutRedirectURIs, a.Type)
	return es
}

const (
	maxURIs   = 50
	maxListed = 10 // grant and response types: a handful exist, so more is a bad request
)

func checkURIs(es *field.Errors, name string, uris []string, t Type) {
	if len(uris) > maxURIs {
		es.Add(name, "at most 50 are allowed")
		return
	}
	seen := map[string]bool{}
	for _, u := range uris {
		if err := ValidateRedirectURI(u, t); err != "" {
			es.Add(name, quote(u)+": "+err)
		}
		if seen[u] {
			es.Add(name, quote(u)+": listed twice")
		}
		seen[u] = true
	}
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// GenerateSecret returns a new client secret of 256 random bits, base64url-encoded,
// and its digest. The secret is shown to the caller once and never stored.
func GenerateSecret() (secret string, digest []byte) {
	return generate("")
}

// GenerateClientID returns a random client identifier (144 bits).
func GenerateClientID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func generate(prefix string) (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s := prefix + base64.RawURLEncoding.EncodeToString(b)
	return s, Digest(s)
}

// Digest is the stored form of a high-entropy secret. A fast hash is right here: the
// secret has 256 bits of entropy, so there is nothing to brute-force.
func Digest(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}

// SecretMatches compares a presented secret with the stored digest in constant time.
func (a Application) SecretMatches(secret string) bool {
	if len(a.SecretDigest) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(Digest(secret), a.SecretDigest) == 1
}
