package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/kv"
)

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
}

// Introspect is token introspection (RFC 7662). The caller must be a confidential client
// of the tenant (§2.1: the endpoint requires authorization). An access token of the
// tenant is described to any such client (it is a resource server's question); a
// refresh token only to the client it was issued to (§4: no token scanning by others).
// Anything invalid, expired, revoked or foreign is {"active": false}.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	app, err := s.p.authenticateClient(ctx, r.Data.ClientCredentials)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if app.Type != client.Confidential {
		return nil, s.fail(ctx, InvalidClient("public client %q may not introspect", app.ClientID))
	}
	out, err := s.p.introspect(ctx, app, r.Data.IntrospectionRequest.Token)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(out), nil
}

func (p *Provider) introspect(ctx context.Context, app client.Application, token string) (introspection, error) {
	tc := tenantFrom(ctx)
	if strings.Count(token, ".") == 2 {
		v, err := p.verifyAccessToken(ctx, token)
		if err != nil {
			if isCode(err, CodeInvalidToken) {
				p.logError(ctx, err)
				return introspection{Active: false}, nil
			}
			return introspection{}, err
		}
		return introspection{Active: true, Scope: v.Scope, ClientID: v.ClientID, TokenType: "Bearer",
			Exp: v.Expiry, Iat: v.IssuedAt, Sub: v.Subject, Aud: v.Audience, Iss: v.Issuer, JTI: v.JTI}, nil
	}
	_, rec, err := p.refreshLookup(ctx, token)
	if err != nil {
		if isCode(err, CodeInvalidGrant) {
			return introspection{Active: false}, nil
		}
		return introspection{}, err
	}
	if rec.ClientID != app.ClientID || rec.Rotated || !p.now().Before(rec.ExpiresAt) {
		return introspection{Active: false}, nil
	}
	revoked, err := p.grantRevoked(ctx, tc.T.ID, rec.GrantID)
	if err != nil {
		return introspection{}, err
	}
	if revoked {
		return introspection{Active: false}, nil
	}
	return introspection{Active: true, Scope: strings.Join(rec.Scopes, " "), ClientID: rec.ClientID,
		TokenType: "refresh_token", Exp: rec.ExpiresAt.Unix(), Sub: rec.UserID.String(), Iss: tc.Issuer}, nil
}

// Revocation is token revocation (RFC 7009). Revoking a refresh token revokes its whole
// family, and with it the access tokens of that grant (§2.1 SHOULD); revoking an access
// token revokes its grant. A token that is unknown, invalid or another client's gets the
// same 200 as a success (§2.2) and changes nothing.
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[zoidc.RevocationRequest]) (*op.Response, error) {
	app, ok := appOf(r.Client)
	if !ok {
		return nil, s.fail(ctx, ServerError(errors.New("client of unexpected type")))
	}
	if err := s.p.revoke(ctx, app, r.Data.Token, r.Data.TokenTypeHint); err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(struct{}{}), nil
}

func (p *Provider) revoke(ctx context.Context, app client.Application, token, hint string) error {
	tc := tenantFrom(ctx)
	switch hint {
	case "", "access_token", "refresh_token":
	default:
		return wrapError(CodeUnsupportedTokenType, errors.New("token_type_hint "+hint))
	}
	if strings.Count(token, ".") == 2 {
		v, err := p.verifyAccessToken(ctx, token)
		if err != nil {
			if isCode(err, CodeInvalidToken) {
				return nil
			}
			return err
		}
		if v.ClientID != app.ClientID {
			return nil
		}
		return p.revokeGrant(ctx, tc.T.ID, v.GrantID)
	}
	_, rec, err := p.refreshLookup(ctx, token)
	if err != nil {
		if isCode(err, CodeInvalidGrant) {
			return nil
		}
		return err
	}
	if rec.ClientID != app.ClientID {
		return nil
	}
	return p.revokeGrant(ctx, tc.T.ID, rec.GrantID)
}

// userinfo is the UserInfo endpoint (OIDC Core §5.3): a bearer access token (RFC 6750
// §2.1 header, or §2.2 form body on POST) with the openid scope; the claims its scopes
// release about a user who is still active. Unlike introspection and refresh, it
// honours a verified token whose revocation check is unavailable (counted:
// UserinfoUncheckedRevocations).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, err := bearer(r)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	// During a NATS outage the revocation check is unavailable: userinfo then honours
	// the verified token (verifyAccess explains the trade-off) rather than answering
	// 503 on every process.
	v, err := p.verifyAccess(ctx, token, honourUnchecked)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	if !slices.Contains(v.scopes, ScopeOpenID) {
		p.writeJSONError(w, r, &Error{Code: CodeInsufficientScope, cause: errors.New("no openid scope")})
		return
	}
	uid, err := parseUUID(v.Subject)
	if err != nil {
		p.writeJSONError(w, r, InvalidToken("subject is not a user"))
		return
	}
	u, err := p.loadUser(ctx, uid)
	if err != nil {
		if isCode(err, CodeInvalidGrant) {
			err = InvalidToken("user not active")
		}
		p.writeJSONError(w, r, err)
		return
	}
	c, err := p.claimsFor(ctx, u, v.scopes)
	if err != nil {
		p.writeJSONError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Sub string `json:"sub"`
		userClaims
	}{u.ID.String(), c})
}

// bearer extracts the access token: the Authorization header (RFC 6750 §2.1) or, on a
// form POST, the access_token field (§2.2) — never both, never the query string.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	var form string
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return "", InvalidRequest("form does not parse")
		}
		if vs := r.PostForm["access_token"]; len(vs) > 1 {
			return "", InvalidRequest("access_token repeated")
		} else if len(vs) == 1 {
			form = vs[0]
		}
	}
	switch {
	case h != "" && form != "":
		return "", InvalidRequest("two access tokens")
	case form != "":
		return form, nil
	case len(h) > 7 && strings.EqualFold(h[:7], "bearer "):
		return strings.TrimSpace(h[7:]), nil
	default:
		return "", InvalidToken("no bearer token")
	}
}

// kvNotFound reports a KV ErrNotFound.
func kvNotFound(err error) bool { return errors.Is(err, kv.ErrNotFound) }
