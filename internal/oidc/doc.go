// Package oidc makes nines an OpenID Provider (OpenID Connect Core 1.0, OAuth 2.0 RFC 6749)
// for every tenant: discovery, JWKS, the authorization endpoint with the hosted login
// page, the token endpoint (authorization_code with PKCE, refresh_token with rotation,
// client_credentials, device_code), userinfo, introspection (RFC 7662), revocation
// (RFC 7009), RP-initiated logout and device authorization (RFC 8628).
//
// The issuer of a tenant is PublicURL + "/t/" + slug. It is derived from the request path
// only, never from Forwarded or X-Forwarded-* headers (ZITADEL GO-2025-4084).
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
