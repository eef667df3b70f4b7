package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"regexp"
	"slices"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/kv"
)

// server implements the library's op.Server for the endpoints it routes (token,
// introspection, revocation, device authorization). Each method is a fixed pipeline:
// the client was authenticated by VerifyClient (and its grant type checked by the
// library against GrantTypes); then policy, the grant, the response. Every error leaves
// through Provider.toLibrary.
type server struct {
	op.UnimplementedServer
	p *Provider
}

func (s *server) fail(ctx context.Context, err error) error { return s.p.toLibrary(ctx, err) }

func appOf(c op.Client) (client.Application, bool) {
	ac, ok := c.(appClient)
	return ac.app, ok
}

// VerifyClient authenticates the client of a token, revocation or device
// authorization request.
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	app, err := s.p.authenticateClient(ctx, r.Data)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return appClient{app: app}, nil
}

// CodeExchange is the authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[zoidc.AccessTokenRequest]) (*op.Response, error) {
	resp, err := s.p.exchangeCode(ctx, r.Client, r.Data)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(resp), nil
}

var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// s256 is the PKCE S256 transformation (RFC 7636 §4.2).

func (p *Provider) exchangeCode(ctx context.Context, c op.Client, req *zoidc.AccessTokenRequest) (tokenResponse, error) {
	app, ok := appOf(c)
	if !ok {
		return tokenResponse{}, ServerError(errors.New("client of unexpected type"))
	}
	tc := tenantFrom(ctx)
	if req.Code == "" || len(req.Code) > 256 {
		return tokenResponse{}, InvalidGrant("code empty or long")
	}
	key := kvKey(tc.T.ID, kindCode, digest(req.Code))
	codes := p.cfg.Buckets.Codes
	// Every check runs on a plain read, so a request that fails one (another client, a
	// wrong redirect_uri or code_verifier) spends nothing: a thief holding a leaked code
	// cannot burn it. Single use is decided by the Update below, a compare-and-swap on
	// the revision read here.
	//
	// On a replicated bucket a code written a moment ago never reads as unknown (kv
	// confirms "not found" with the stream leader). Single use is the compare-and-swap's
	// job, which the bucket's leader decides.
	e, err := codes.Get(ctx, key)
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return tokenResponse{}, InvalidGrant("unknown code")
		}
		return tokenResponse{}, kvErr(err)
	}
	var rec codeRecord
	if err := decodeEntry(e, &rec); err != nil {
		return tokenResponse{}, err
	}
	if subtle.ConstantTimeCompare([]byte(rec.ClientID), []byte(app.ClientID)) != 1 {
		return tokenResponse{}, InvalidGrant("code of client %q presented by %q", rec.ClientID, app.ClientID)
	}
	if rec.Redeemed {
		return tokenResponse{}, p.codeReused(ctx, rec)
	}
	switch {
	case !p.now().Before(rec.ExpiresAt):
		return tokenResponse{}, InvalidGrant("code expired")
	case req.RedirectURI != rec.RedirectURI: // RFC 6749 §4.1.3: identical to the authorization request
		return tokenResponse{}, InvalidGrant("redirect_uri differs from the authorization request")
	}
	if err := checkPKCE(rec.Challenge, req.CodeVerifier); err != nil {
		return tokenResponse{}, err
	}
	// The fallible work (user read, signing, the new refresh token) comes before the
	// code is spent: a transient failure leaves the code redeemable on a retry.
	resp, err := p.issue(ctx, app, rec.grant, true, time.Time{})
	if err != nil {
		return tokenResponse{}, err
	}
	// Spend: the entry stays, marked, until the bucket's TTL, so that any later
	// presentation is recognised as reuse (RFC 6749 §4.1.2) rather than "unknown".
	marker := rec
	marker.Redeemed = true
	if _, err := codes.Update(ctx, key, encode(marker), e.Revision); err != nil {
		if errors.Is(err, kv.ErrConflict) || errors.Is(err, kv.ErrNotFound) {
			// A concurrent redemption won: this is reuse. Revoking the grant also ends
			// the refresh token just created, which was never handed out.
			return tokenResponse{}, p.codeReused(ctx, rec)
		}
		p.dropOrphanRefresh(ctx, resp.RefreshToken)
		return tokenResponse{}, kvErr(err)
	}
	return resp, nil
}

// dropOrphanRefresh deletes, best effort, a refresh token that was created but is not
// handed out because the exchange failed afterwards. A token left behind is harmless:
// nobody knows it, and the bucket's TTL removes it.
func (p *Provider) dropOrphanRefresh(ctx context.Context, rt string) {
	if rt == "" {
		return
	}
	if err := p.cfg.Buckets.Refresh.Delete(ctx, kvKey(tenantFrom(ctx).T.ID, kindRefresh, digest(rt)), 0); err != nil {
		p.log.WarnContext(ctx, "oidc: orphan refresh token not deleted", "error", err)
	}
}

// checkPKCE verifies the code_verifier against the stored S256 challenge (RFC 7636
// §4.6). A verifier without a challenge is refused too: that is the PKCE downgrade
// attack (RFC 9700 §4.8.2).
func checkPKCE(challenge, verifier string) error {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return InvalidGrant("code_verifier without code_challenge (PKCE downgrade)")
	case verifier == "":
		return InvalidGrant("code_verifier missing")
	case !verifierPattern.MatchString(verifier):
		return InvalidGrant("code_verifier malformed")
	case subtle.ConstantTimeCompare([]byte(digest(verifier)), []byte(challenge)) != 1:
		return InvalidGrant("code_verifier does not match")
	}
	return nil
}

// codeReused handles a second presentation of a code: the request fails and every token
// issued from the first redemption is revoked (RFC 6749 §4.1.2, §10.5).
func (p *Provider) codeReused(ctx context.Context, rec codeRecord) error {
	if err := p.revokeGrant(ctx, tenantFrom(ctx).T.ID, rec.GrantID); err != nil {
		return err
	}
	return InvalidGrant("code reused; grant %s revoked", rec.GrantID)
}

// RefreshToken is the refresh_token grant with rotation (RFC 6749 §6, RFC 9700 §4.14.2):
// a new token of the same family is created, then the presented one is spent with a
// compare-and-swap; presenting a spent token revokes the whole family, the newest token
// included.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[zoidc.RefreshTokenRequest]) (*op.Response, error) {
	resp, err := s.p.refresh(ctx, r.Client, r.Data)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(resp), nil
}

func (p *Provider) refresh(ctx context.Context, c op.Client, req *zoidc.RefreshTokenRequest) (tokenResponse, error) {
	app, ok := appOf(c)
	if !ok {
		return tokenResponse{}, ServerError(errors.New("client of unexpected type"))
	}
	tc := tenantFrom(ctx)
	e, rec, err := p.refreshLookup(ctx, req.RefreshToken)
	if err != nil {
		return tokenResponse{}, err
	}
	if subtle.ConstantTimeCompare([]byte(rec.ClientID), []byte(app.ClientID)) != 1 {
		return tokenResponse{}, InvalidGrant("refresh token of client %q presented by %q", rec.ClientID, app.ClientID)
	}
	if rec.Rotated {
		return tokenResponse{}, p.refreshReused(ctx, rec)
	}
	if revoked, err := p.grantRevoked(ctx, tc.T.ID, rec.GrantID); err != nil || revoked {
		if err != nil {
			return tokenResponse{}, err
		}
		return tokenResponse{}, InvalidGrant("grant %s revoked", rec.GrantID)
	}
	if !p.now().Before(rec.ExpiresAt) {
		return tokenResponse{}, InvalidGrant("refresh family expired")
	}
	// RFC 6749 §6: the scope may only narrow, and only for the tokens of this response;
	// the new refresh token keeps the scope of the one presented.
	g := rec.grant
	if len(req.Scopes) > 0 {
		for _, sc := range req.Scopes {
			if !slices.Contains(rec.Scopes, sc) {
				return tokenResponse{}, InvalidScope("scope %q was not granted", trunc(sc))
			}
		}
		g.Scopes = uniqueScopes(req.Scopes)
	}
	// The fallible work first: load the user, sign, store the new refresh token. Only
	// then is the presented token spent, so a transient failure (user store, signer,
	// KV) leaves it unspent and the client's retry is not mistaken for reuse.
	resp, err := p.mint(ctx, app, g, true)
	if err != nil {
		if isCode(err, CodeInvalidGrant) { // the user is gone or disabled: end the family
			_ = p.revokeGrant(ctx, tc.T.ID, rec.GrantID)
		}
		return tokenResponse{}, err
	}
	if resp.RefreshToken, _, err = p.createRefresh(ctx, rec.grant, rec.ExpiresAt); err != nil {
		return tokenResponse{}, err
	}
	spent := rec
	spent.Rotated = true
	if _, err := p.cfg.Buckets.Refresh.Update(ctx, e.Key, encode(spent), e.Revision); err != nil {
		if errors.Is(err, kv.ErrConflict) || errors.Is(err, kv.ErrNotFound) {
			// Another presentation won the rotation: reuse. Revoking the family also
			// ends the refresh token just created.
			return tokenResponse{}, p.refreshReused(ctx, rec)
		}
		// Unavailable: the presented token is still unspent (unless the write landed
		// and only its answer was lost, which a retry then reports as reuse).
		p.dropOrphanRefresh(ctx, resp.RefreshToken)
		return tokenResponse{}, kvErr(err)
	}
	return resp, nil
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func (p *Provider) refreshReused(ctx context.Context, rec refreshRecord) error {
	if err := p.revokeGrant(ctx, tenantFrom(ctx).T.ID, rec.GrantID); err != nil {
		return err
	}
	return InvalidGrant("refresh token reused; family %s revoked", rec.GrantID)
}

// ClientCredentialsExchange is the client_credentials grant (RFC 6749 §4.4): a
// confidential client gets an access token for itself; no refresh or ID token. No user
// scope may be asked for.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[zoidc.ClientCredentialsRequest]) (*op.Response, error) {
	app, ok := appOf(r.Client)
	if !ok {
		return nil, s.fail(ctx, ServerError(errors.New("client of unexpected type")))
	}
	if app.Type != client.Confidential {
		return nil, s.fail(ctx, UnauthorizedClient("public client %q", app.ClientID))
	}
	if len(r.Data.Scope) > 0 {
		return nil, s.fail(ctx, InvalidScope("scopes %q are not available to client_credentials", r.Data.Scope))
	}
	resp, err := s.p.issue(ctx, app, grant{ClientID: app.ClientID, GrantID: newID()}, false, time.Time{})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(resp), nil
}
