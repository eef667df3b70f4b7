// Package session keeps end users' single sign-on sessions: one per browser and tenant,
// held in the regional Sessions KV bucket and named by a cookie.
//
// The session ID is 256 random bits (base64url) and lives only in the cookie. The KV key
// is the tenant ID and the SHA-256 digest of the ID, so the KV, its backups and its
// replication never hold a usable cookie value, and a lookup by digest needs no secret
// comparison. Every value carries its own absolute expiry, checked on each read: the
// bucket's TTL is garbage collection, not the security boundary.
//
// Cookies are per tenant and host-only: `__Host-nines-<slug>` with Secure, HttpOnly,
// Path=/ and SameSite=Lax. Only for a plain http://localhost public URL (Config.Secure
// false), where browsers refuse the `__Host-` prefix, is the name `nines-<slug>` without
// Secure. A cookie of one tenant presented at another finds nothing (the key holds the
// tenant), so it is ErrNoSession.
//
// This package must never log a session ID or a cookie: Session redacts itself (LogValue).
package session
