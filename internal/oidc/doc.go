// Package oidc makes nines an OpenID Provider (OpenID Connect Core 1.0, OAuth 2.0 RFC 6749)
// for every tenant: discovery, JWKS, the authorization endpoint with the hosted login
// page, the token endpoint (authorization_code with PKCE, refresh_token with rotation,
// client_credentials, device_code), userinfo, introspection (RFC 7662), revocation
// (RFC 7009), RP-initiated logout and device authorization (RFC 8628).
//
// The issuer of a tenant is PublicURL + "/t/" + slug. It is derived from the request path
// only, never from Forwarded or X-Forwarded-* headers (ZITADEL GO-2025-4084). The
// client's address (for authn's throttling and the logs) is Config.ClientIP's answer;
// this package never reads a forwarded header itself.
//
// Single-use artifacts are checked on a read and spent last, with one compare-and-swap,
// after the fallible work (user read, signing, the new refresh token): a request that
// fails a check spends nothing, a transient failure leaves the artifact usable for the
// retry, and losing the compare-and-swap is reuse. Logout ends a session only for an
// id_token_hint of that session, or after a same-origin confirmation (logout.go).
//
// One Provider serves every tenant. github.com/zitadel/oidc/v3/pkg/op parses and routes
// the back-channel endpoints (token, introspection, revocation, device authorization)
// and authenticates the client's credentials format; every decision (client
// authentication, grants, token minting, revocation) is made here, behind our own
// types, so the library can be replaced (v4, or a hand-written parser) without touching
// callers. The library's encrypted opaque tokens are not used at all: access and ID
// tokens are JWTs signed with the tenant's current key, and codes, refresh tokens and
// device codes are 256-bit random values stored only as SHA-256 digests.
//
// This is a login-tier package (ARCHITECTURE.md §1–§3): it reads entity data only through
// the reader interfaces it is handed, keeps short-lived state in the regional KV and
// refresh-token families in the global KV, and writes the entity store only through
// login.Recorder. It must never import internal/store/..., internal/admin or a database
// driver, and must never log a token, code, secret or password.
package oidc
