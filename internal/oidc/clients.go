package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/kv"
)

// appClient adapts a registered application to the library's op.Client, which its
// router needs to check the grant type. Every other decision reads app directly.
type appClient struct {
	app client.Application
}

var _ op.Client = appClient{}

func (c appClient) GetID() string                    { return c.app.ClientID }
func (c appClient) RedirectURIs() []string           { return c.app.RedirectURIs }
func (c appClient) PostLogoutRedirectURIs() []string { return c.app.PostLogoutRedirectURIs }
func (c appClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c appClient) AuthMethod() zoidc.AuthMethod {
	return zoidc.AuthMethod(c.app.TokenEndpointAuthMethod)
}
func (c appClient) ResponseTypes() []zoidc.ResponseType {
	out := make([]zoidc.ResponseType, len(c.app.ResponseTypes))
	for i, r := range c.app.ResponseTypes {
		out[i] = zoidc.ResponseType(r)
	}
	return out
}
func (c appClient) GrantTypes() []zoidc.GrantType {
	out := make([]zoidc.GrantType, len(c.app.GrantTypes))
	for i, g := range c.app.GrantTypes {
		out[i] = zoidc.GrantType(g)
	}
	return out
}
func (c appClient) LoginURL(string) string               { return "" }
func (c appClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c appClient) IDTokenLifetime() time.Duration       { return time.Hour }
func (c appClient) DevMode() bool                        { return false }
func (c appClient) IsScopeAllowed(string) bool           { return false }
func (c appClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c appClient) ClockSkew() time.Duration             { return 0 }
func (c appClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c appClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// application loads the client of the request's tenant.
func (p *Provider) application(ctx context.Context, clientID string) (client.Application, error) {
	tc := tenantFrom(ctx)
	if clientID == "" || len(clientID) > 128 {
		return client.Application{}, InvalidClient("empty or long client_id")
	}
	app, err := p.cfg.Apps.ApplicationByClientID(ctx, tc.T.ID, clientID)
	if err != nil {
		if p.notFound(err) {
			return client.Application{}, InvalidClient("unknown client %q", clientID)
		}
		return client.Application{}, classifyRead(err)
	}
	if app.TenantID != tc.T.ID {
		return client.Application{}, InvalidClient("client of another tenant")
	}
	return app, nil
}

// authenticateClient authenticates the client at the token, introspection, revocation
// and device authorization endpoints (RFC 6749 §2.3, OIDC Core §9): exactly the method
// the client registered, nothing weaker. Public clients ("none") only identify
// themselves. Secrets are compared in constant time.
func (p *Provider) authenticateClient(ctx context.Context, cc *op.ClientCredentials) (client.Application, error) {
	if cc == nil {
		return client.Application{}, InvalidClient("no client credentials")
	}
	clientID := cc.ClientID
	if cc.ClientAssertion != "" {
		sub, err := unverifiedSubject(cc.ClientAssertion)
		if err != nil {
			return client.Application{}, InvalidClient("client assertion: %v", err)
		}
		if clientID != "" && clientID != sub {
			return client.Application{}, InvalidClient("client_id and assertion subject differ")
		}
		clientID = sub
	}
	app, err := p.application(ctx, clientID)
	if err != nil {
		return client.Application{}, err
	}
	switch app.TokenEndpointAuthMethod {
	case client.AuthSecretBasic, client.AuthSecretPost:
		// The library merges Basic and form credentials; which of the two was used is
		// not a security property (both carry the same secret over TLS).
		if cc.ClientAssertion != "" || !app.SecretMatches(cc.ClientSecret) {
			return client.Application{}, InvalidClient("client %q: secret does not match", app.ClientID)
		}
	case client.AuthPrivateKeyJWT:
		if cc.ClientSecret != "" || cc.ClientAssertion == "" {
			return client.Application{}, InvalidClient("client %q must use private_key_jwt", app.ClientID)
		}
		if err := p.verifyClientAssertion(ctx, app, cc.ClientAssertion); err != nil {
			return client.Application{}, InvalidClient("client %q: assertion: %v", app.ClientID, err)
		}
	case client.AuthNone:
		if app.Type != client.Public || cc.ClientSecret != "" || cc.ClientAssertion != "" {
			return client.Application{}, InvalidClient("client %q: credentials for a client without any", app.ClientID)
		}
	default:
		return client.Application{}, InvalidClient("client %q: unknown auth method", app.ClientID)
	}
	return app, nil
}

// unverifiedSubject reads "sub" of a client assertion to find the client whose keys
// verify it. Nothing is trusted until verifyClientAssertion succeeds.
func unverifiedSubject(assertion string) (string, error) {
	if len(assertion) > maxJWTLen {
		return "", errors.New("too long")
	}
	jws, err := jose.ParseSignedCompact(assertion, assertionAlgs)
	if err != nil {
		return "", err
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil || c.Sub == "" {
		return "", errors.New("no subject")
	}
	return c.Sub, nil
}

var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// assertionAudience reports whether a client assertion's aud is exactly one value, the
// issuer or the token endpoint (a string, or an array of one). An array naming other
// audiences too is refused: an assertion made for several servers could be replayed
// from any of them (the audience injection class, OpenID Foundation 2025 disclosure
// on private_key_jwt).
func assertionAudience(aud []string, issuer, tokenEndpoint string) bool {
	return len(aud) == 1 && (aud[0] == issuer || aud[0] == tokenEndpoint)
}

// maxAssertionLifetime bounds how far in the future a client assertion may expire, so
// the replay guard needs to remember a jti only that long.
const maxAssertionLifetime = 5 * time.Minute

// verifyClientAssertion checks a private_key_jwt client assertion (RFC 7523 §3, OIDC
// Core §9): signed by a key of the client's registered JWKS with an allowed algorithm;
// iss = sub = client_id; aud is this tenant's issuer or token endpoint alone; exp in the
// near future; jti never seen before (remembered in the Codes bucket until it expires).
func (p *Provider) verifyClientAssertion(ctx context.Context, app client.Application, assertion string) error {
	if len(app.JWKS) == 0 {
		return errors.New("client has no registered keys")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(app.JWKS, &set); err != nil {
		return errors.New("registered JWKS does not parse")
	}
	jws, err := jose.ParseSignedCompact(assertion, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return errors.New("does not parse")
	}
	h := jws.Signatures[0].Header
	var payload []byte
	for _, k := range set.Keys {
		if h.KeyID != "" && k.KeyID != h.KeyID {
			continue
		}
		if !k.IsPublic() || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if out, err := jws.Verify(k.Key); err == nil {
			payload = out
			break
		}
	}
	if payload == nil {
		return errors.New("signature does not verify with any registered key")
	}
	var c struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud audience        `json:"aud"` // not zoidc.Audience: it panics on a non-string member
		Exp *zoidc.Time     `json:"exp"`
		JTI string          `json:"jti"`
		Nbf *zoidc.Time     `json:"nbf"`
		_   json.RawMessage `json:"-"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return errors.New("claims do not parse")
	}
	now := p.now()
	tc := tenantFrom(ctx)
	switch {
	case c.Iss != app.ClientID || c.Sub != app.ClientID:
		return errors.New("iss and sub must be the client_id")
	case !assertionAudience(c.Aud, tc.Issuer, p.endpoint(tc, pathToken)):
		return errors.New("aud does not name this issuer alone")
	case c.Exp == nil || !now.Before(c.Exp.AsTime()):
		return errors.New("expired or no exp")
	case c.Exp.AsTime().After(now.Add(maxAssertionLifetime)):
		return errors.New("exp too far in the future")
	case c.Nbf != nil && now.Before(c.Nbf.AsTime().Add(-time.Minute)):
		return errors.New("not yet valid")
	case c.JTI == "" || len(c.JTI) > 256:
		return errors.New("no jti")
	}
	key := kvKey(tc.T.ID, kindAssertion, digest(app.ClientID+"\x00"+c.JTI))
	if _, err := p.cfg.Buckets.Codes.Create(ctx, key, []byte(`{}`)); err != nil {
		if errors.Is(err, kv.ErrExists) {
			return errors.New("jti replayed")
		}
		return fmt.Errorf("replay guard: %w", err)
	}
	return nil
}
