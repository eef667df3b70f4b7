// Package admin is the admin REST API of nines (/admin/v1/…): tenants and their signing
// keys, users, groups and their members, applications (OIDC clients) and admin API tokens, as JSON over HTTP with
// bearer-token authentication, RFC 9457 problem details, cursor pagination and merge-patch
// updates with optimistic concurrency (ETag / If-Match). The OpenAPI 3.1 document served
// at /admin/v1/openapi.json is embedded from openapi.json and kept true by a test that
// walks the route table.
//
// A new tenant gets its signing keys (keys.NewSet, sealed with Config.KEK) in the same
// transaction that creates it; GET …/keys lists their public parts and POST
// …/keys/rotate rotates them (a global token or the tenant's own scoped token).
// EnsureSigningKeys completes the key sets of older tenants at start-up.
//
// In read-only mode (Config.ReadOnly: an operator's switch, or the primary unreachable)
// every write route but PUT /admin/v1/readonly answers 503 urn:nines:problem:read-only
// with Retry-After before touching a store, and reads (token lookups included) run on a
// replica (Config.Replica) when one is healthy.
//
// It runs on the admin tier only, against the primary store. It must never:
//   - return a password, a password hash, a client-secret digest or a token digest (a
//     client secret and an API token are shown exactly once, when they are created);
//   - return or log a private signing key, sealed or not, or the KEK;
//   - log a request body, a token, a secret or a password;
//   - let a tenant-scoped token see or change anything outside its tenant;
//   - answer under /admin/v1/ with anything but JSON or problem+json, or panic on input.
package admin
