// Package provision is the login tier's just-in-time provisioning (ARCHITECTURE §3.3,
// "rare synchronous writes"): on a sign-in whose name matches no user of a tenant that
// imports users from a legacy store (tenant.UserImport), it asks that store whether the
// password is right and, when the store vouches for it, creates the user with a
// synchronous call to the admin API — through NINES_PUBLIC_URL, north-south, exactly as
// an outside client would, authenticated with a provision-scoped admin API token
// (NINES_PROVISIONING_TOKEN). The sign-in then continues with the user of the admin API's
// answer, never re-read from a replica (which may lag).
//
// The legacy endpoint's contract: POST {"username","password"} as JSON; 200 with
// {"username","email","given_name","family_name"} (email and names optional; username
// equal to the one sent, ignoring case) vouches for the password; 401, 403 or 404 is a
// wrong password; anything else, a redirect, a body over MaxBody, or no answer within
// the timeout means the store is unavailable. The admin API's answers: 201 is the user;
// 409 means another sign-in created it a moment ago, and it is fetched by username;
// 401 or 403 is a wrong credential; 408, 429 and 5xx (503 in read-only mode), time-outs
// and connection errors mean the admin tier is unavailable. Every such failure fails
// that one sign-in (authn.ErrImportUnavailable or authn.ErrProvisioningFailed) and no
// other.
//
// This package must never import a store implementation, the admin tier or a database
// driver (internal/login's boundary test enforces it): it reaches the entity store only
// through the admin API over net/http. It must never log or put into an error a
// password, a token, a username, an e-mail address or a name: logs carry the tenant ID,
// the user ID, HTTP statuses and problem types.
package provision
