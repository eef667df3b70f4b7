package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/user"
)

// Scopes nines knows (OIDC Core §5.4, §11).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeGroups        = "groups"
	ScopeOfflineAccess = "offline_access"
)

var userScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeGroups, ScopeOfflineAccess}

// accessClaims are the claims of a JWT access token (RFC 9068 §2.2).
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	// GrantID names the token family, so that revoking it (refresh reuse, code reuse,
	// RFC 7009) makes the access token inactive at introspection and userinfo.
	GrantID string `json:"gid"`
}

// idClaims are the claims of an ID token (OIDC Core §2, §5.1).
type idClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        []string `json:"aud"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time,omitempty"`
	Nonce           string   `json:"nonce,omitempty"`
	AMR             []string `json:"amr,omitempty"`
	AuthorizedParty string   `json:"azp"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	SessionID       string   `json:"sid,omitempty"`
	userClaims
}

// userClaims are the standard claims released by scope (OIDC Core §5.1, §5.4).
type userClaims struct {
	Name              string   `json:"name,omitempty"`
	GivenName         string   `json:"given_name,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// tokenResponse is the successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

func algOf(app client.Application) keys.Alg {
	switch a := keys.Alg(app.IDTokenSignedResponseAlg); a {
	case keys.ES256, keys.EdDSA:
		return a
	default:
		return keys.RS256
	}
}

// errNoSuchUser marks loadUser's "the replica has no such user".
var errNoSuchUser = errors.New("no such user")

// loadUser reads the grant's user and checks it may still get tokens.
func (p *Provider) loadUser(ctx context.Context, uid uuid.UUID) (user.User, error) {
	tc := tenantFrom(ctx)
	u, err := p.cfg.Users.User(ctx, tc.T.ID, uid)
	if err != nil {
		if p.notFound(err) {
			return user.User{}, wrapError(CodeInvalidGrant, fmt.Errorf("user %s: %w", uid, errNoSuchUser))
		}
		return user.User{}, classifyRead(err)
	}
	if u.Status != user.StatusActive || u.TenantID != tc.T.ID {
		return user.User{}, InvalidGrant("user %s is not active", uid)
	}
	return u, nil
}

// claimsFor releases u's claims for scopes (OIDC Core §5.4).
func (p *Provider) claimsFor(ctx context.Context, u user.User, scopes []string) (userClaims, error) {
	var c userClaims
	if slices.Contains(scopes, ScopeProfile) {
		c.GivenName, c.FamilyName, c.PreferredUsername = u.GivenName, u.FamilyName, u.Username
		c.Name = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		v := u.EmailVerified
		c.Email, c.EmailVerified = u.Email, &v
	}
	if slices.Contains(scopes, ScopeGroups) {
		gs, err := p.cfg.Users.GroupsOfUser(ctx, u.TenantID, u.ID)
		if err != nil {
			return c, classifyRead(err)
		}
		c.Groups = make([]string, 0, len(gs))
		for _, g := range gs {
			c.Groups = append(c.Groups, g.Name)
		}
		slices.Sort(c.Groups)
	}
	return c, nil
}

// issue mints the tokens of a grant for app: a JWT access token, an ID token when openid
// was granted, and a refresh token when offline_access was granted and the client may use
// the refresh_token grant (OIDC Core §11). famExpiry is the absolute end of the refresh
// family; zero starts a new family with the configured lifetime.
func (p *Provider) issue(ctx context.Context, app client.Application, g grant, withUser bool, famExpiry time.Time) (tokenResponse, error) {
	resp, err := p.mint(ctx, app, g, withUser)
	if err != nil {
		return tokenResponse{}, err
	}
	if withUser && slices.Contains(g.Scopes, ScopeOfflineAccess) && slices.Contains(app.GrantTypes, client.GrantRefreshToken) {
		if famExpiry.IsZero() {
			famExpiry = p.now().Add(p.cfg.RefreshTokenLifetime)
		}
		if resp.RefreshToken, _, err = p.createRefresh(ctx, g, famExpiry); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}

// A grant authenticated less than userLagGrace ago whose user the replica does not have
// was most likely created a moment ago on the primary (just-in-time provisioning goes
// through the admin API, and replication takes its time): the read is retried for up to
// userLagWait, then answered temporarily_unavailable (503) — the code stays redeemable —
// rather than invalid_grant, which would make the client start over.
const (
	userLagGrace = 30 * time.Second
	userLagWait  = 2 * time.Second
)

// grantUser is loadUser for g's user, patient with replication lag (see userLagGrace).
func (p *Provider) grantUser(ctx context.Context, g grant) (user.User, error) {
	u, err := p.loadUser(ctx, g.UserID)
	if !errors.Is(err, errNoSuchUser) || p.now().Sub(g.AuthTime) > userLagGrace {
		return u, err
	}
	for wait, waited := 50*time.Millisecond, time.Duration(0); waited < userLagWait; wait *= 2 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return user.User{}, wrapError(CodeTemporarilyUnavailable, ctx.Err())
		case <-t.C:
		}
		waited += wait
		if u, err = p.loadUser(ctx, g.UserID); !errors.Is(err, errNoSuchUser) {
			return u, err
		}
	}
	return user.User{}, wrapError(CodeTemporarilyUnavailable,
		fmt.Errorf("user %s, authenticated %v ago, is not on this replica yet", g.UserID, p.now().Sub(g.AuthTime).Round(time.Millisecond)))
}

// mint signs the access token of g for app and, when openid was granted to a user, its
// ID token. It writes nothing: a failure here leaves no state behind.
func (p *Provider) mint(ctx context.Context, app client.Application, g grant, withUser bool) (tokenResponse, error) {
	tc := tenantFrom(ctx)
	now := p.now()
	sub := app.ClientID // client_credentials: the client itself (RFC 9068 §2.2)
	var claims userClaims
	if withUser {
		u, err := p.grantUser(ctx, g)
		if err != nil {
			return tokenResponse{}, err
		}
		sub = u.ID.String()
		if slices.Contains(g.Scopes, ScopeOpenID) {
			if claims, err = p.claimsFor(ctx, u, g.Scopes); err != nil {
				return tokenResponse{}, err
			}
		}
	}
	alg := algOf(app)
	at := accessClaims{
		Issuer: tc.Issuer, Subject: sub, Audience: []string{app.ClientID}, ClientID: app.ClientID,
		Expiry: now.Add(p.cfg.AccessTokenLifetime).Unix(), IssuedAt: now.Unix(), JTI: newID(),
		Scope: strings.Join(g.Scopes, " "), GrantID: g.GrantID,
	}
	if withUser {
		at.AuthTime = g.AuthTime.Unix()
	}
	s, _, err := p.keys.signer(ctx, tc.T.ID, alg, "at+jwt")
	if err != nil {
		return tokenResponse{}, err
	}
	access, err := sign(s, at)
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(p.cfg.AccessTokenLifetime.Seconds()),
		Scope: at.Scope}
	if withUser && slices.Contains(g.Scopes, ScopeOpenID) {
		ids, jalg, err := p.keys.signer(ctx, tc.T.ID, alg, "JWT")
		if err != nil {
			return tokenResponse{}, err
		}
		idc := idClaims{
			Issuer: tc.Issuer, Subject: sub, Audience: []string{app.ClientID},
			Expiry: now.Add(p.cfg.IDTokenLifetime).Unix(), IssuedAt: now.Unix(), AuthTime: g.AuthTime.Unix(),
			Nonce: g.Nonce, AMR: g.AMR, AuthorizedParty: app.ClientID, SessionID: g.SID, userClaims: claims,
		}
		if idc.AccessTokenHash, err = claimHash(access, jalg); err != nil {
			return tokenResponse{}, err
		}
		if resp.IDToken, err = sign(ids, idc); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}

// createRefresh stores a new refresh token of the family g ending at famExpiry and
// returns it with its KV key.
func (p *Provider) createRefresh(ctx context.Context, g grant, famExpiry time.Time) (token, key string, err error) {
	rt := p.mintSecret()
	key = kvKey(tenantFrom(ctx).T.ID, kindRefresh, digest(rt))
	if _, err := p.cfg.Buckets.Refresh.Create(ctx, key, encode(refreshRecord{grant: g, ExpiresAt: famExpiry})); err != nil {
		return "", "", kvErr(err)
	}
	return rt, key, nil
}

// claimHash is at_hash (OIDC Core §3.1.3.6): the left half of the hash of the ASCII
// token with the hash of the JWS algorithm, base64url. EdDSA with Ed25519 uses SHA-512.
func claimHash(token string, alg jose.SignatureAlgorithm) (string, error) {
	var sum []byte
	switch alg {
	case jose.RS256, jose.ES256:
		s := sha256.Sum256([]byte(token))
		sum = s[:]
	case jose.EdDSA:
		s := sha512.Sum512([]byte(token))
		sum = s[:]
	default:
		return "", ServerError(fmt.Errorf("no hash for %s", alg))
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// verifiedAccess is a verified, unrevoked access token.
type verifiedAccess struct {
	accessClaims
	scopes []string
}

// leeway is the clock skew tolerated when checking exp and iat.
const leeway = 30 * time.Second

// verifyAccessToken checks a bearer token issued by this tenant (RFC 9068 §4): the JOSE
// checks of verifyJWT (typ "at+jwt"), iss equal to the tenant's issuer, exp in the
// future, iat not in the future, aud containing its client_id, and the grant not revoked.
// The returned error is invalid_token (or temporarily_unavailable) with the cause. A
// revocation check that cannot be made fails closed (temporarily_unavailable): this is
// the check of introspection and revocation; userinfo uses verifyAccess with its own
// policy.
func (p *Provider) verifyAccessToken(ctx context.Context, raw string) (verifiedAccess, error) {
	return p.verifyAccess(ctx, raw, failClosed)
}

// uncheckedPolicy is what verifyAccess does when the revocation check is unavailable.
type uncheckedPolicy int

const (
	// failClosed refuses the token (temporarily_unavailable).
	failClosed uncheckedPolicy = iota
	// honourUnchecked accepts the token, whose signature, issuer, audience and expiry
	// are verified, and counts it (userinfo only).
	honourUnchecked
)

// verifyAccess is verifyAccessToken with a policy for a revocation check that cannot be
// made (the KV is unavailable, kv.ErrUnavailable). A grant found revoked is refused
// under every policy.
func (p *Provider) verifyAccess(ctx context.Context, raw string, policy uncheckedPolicy) (verifiedAccess, error) {
	tc := tenantFrom(ctx)
	payload, err := p.keys.verifyJWT(ctx, tc.T.ID, raw, "at+jwt")
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && pe.Code != CodeServerError {
			return verifiedAccess{}, err
		}
		return verifiedAccess{}, InvalidToken("access token: %v", err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return verifiedAccess{}, InvalidToken("claims do not parse")
	}
	now := p.now()
	switch {
	case c.Issuer != tc.Issuer:
		return verifiedAccess{}, InvalidToken("issuer mismatch")
	case now.After(time.Unix(c.Expiry, 0).Add(leeway)):
		return verifiedAccess{}, InvalidToken("expired")
	case time.Unix(c.IssuedAt, 0).After(now.Add(leeway)):
		return verifiedAccess{}, InvalidToken("issued in the future")
	case c.ClientID == "" || !slices.Contains(c.Audience, c.ClientID) || len(c.Audience) != 1:
		return verifiedAccess{}, InvalidToken("audience mismatch")
	case c.GrantID == "" || c.Subject == "":
		return verifiedAccess{}, InvalidToken("no grant or subject")
	}
	revoked, err := p.grantRevoked(ctx, tc.T.ID, c.GrantID)
	switch {
	case err != nil && policy == honourUnchecked && errors.Is(err, kv.ErrUnavailable) && !errors.Is(err, kv.ErrFull) && ctx.Err() == nil:
		// The KV cannot say whether the grant was revoked (a NATS outage: the
		// in-memory fallback holds only the revocations this process wrote). The
		// token's signature, issuer, audience and expiry are verified, so it is
		// honoured, and counted (unless the caller is gone: ctx done). The trade-off: for at most the outage, an access
		// token whose grant was revoked just before it (or on another process) is
		// honoured here until it expires (AccessTokenLifetime, 10 minutes by
		// default) — exactly as a resource server that verifies the JWT itself
		// honours it at any time. Refresh and introspection still fail closed, so no
		// new token is issued and no token is reported active without the check.
		p.userinfoUnchecked.Add(1)
		p.log.DebugContext(ctx, "oidc: userinfo honoured an access token without a revocation check (KV unavailable)",
			slog.String("request_id", requestid.FromContext(ctx)), slog.String("tenant", tc.T.ID.String()))
	case err != nil:
		return verifiedAccess{}, err
	case revoked:
		return verifiedAccess{}, InvalidToken("grant revoked")
	}
	return verifiedAccess{accessClaims: c, scopes: strings.Fields(c.Scope)}, nil
}

// refreshLookup finds a refresh token of this tenant. It does not decide single use
// (that is the rotation's compare-and-swap).
//
// On the replicated bucket a Get may return the record one rotation old (the
// compare-and-swap then loses and the reuse is caught there); "unknown" is confirmed by
// the stream leader. Refresh reuse detection holds within one region: the global bucket
// is last-writer-wins across regions.
func (p *Provider) refreshLookup(ctx context.Context, raw string) (kv.Entry, refreshRecord, error) {
	tc := tenantFrom(ctx)
	var rec refreshRecord
	if raw == "" || len(raw) > 256 {
		return kv.Entry{}, rec, InvalidGrant("refresh token empty or long")
	}
	e, err := p.cfg.Buckets.Refresh.Get(ctx, kvKey(tc.T.ID, kindRefresh, digest(raw)))
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return kv.Entry{}, rec, InvalidGrant("unknown refresh token")
		}
		return kv.Entry{}, rec, kvErr(err)
	}
	if err := decodeEntry(e, &rec); err != nil {
		return kv.Entry{}, rec, err
	}
	return e, rec, nil
}
