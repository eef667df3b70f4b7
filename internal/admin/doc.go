// Package admin is the admin REST API of nines (/admin/v1/…): tenants, users, groups and
// their members, applications (OIDC clients) and admin API tokens, as JSON over HTTP with
// bearer-token authentication, RFC 9457 problem details, cursor pagination and merge-patch
// updates with optimistic concurrency (ETag / If-Match). The OpenAPI 3.1 document served
// at /admin/v1/openapi.json is embedded from openapi.json and kept true by a test that
// walks the route table.
//
// It runs on the admin tier only, against the primary store. It must never:
//   - return a password, a password hash, a client-secret digest or a token digest (a
//     client secret and an API token are shown exactly once, when they are created);
//   - log a request body, a token, a secret or a password;
//   - let a tenant-scoped token see or change anything outside its tenant;
//   - answer under /admin/v1/ with anything but JSON or problem+json, or panic on input.
package admin
