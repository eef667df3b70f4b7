// Package authn checks end-user passwords for the login tier, with brute-force throttling
// per account and per source address and the tenant's lockout policy.
//
// Every attempt follows one pipeline, whatever the name typed:
//
//  1. the tenant must be active (ErrTenantDisabled otherwise, before any work);
//  2. the source address's failure window is read: at IPLimit failures it is blocked.
//     A source that is a trusted proxy (Config.TrustedProxy: the client-address
//     resolver found no client behind it) has no window: it would hold every user
//     behind the proxy, and one attacker could block them all. Its attempts count per
//     account only;
//  3. the user is looked up (e-mail when the name holds "@", then username, always the
//     same queries for the same spelling, whether anything exists or not);
//  4. the account counter is incremented with compare-and-swap BEFORE the password is
//     checked. It is keyed by the tenant and a digest of the user ID when the user
//     exists, so that "alice" and "alice@example.com" share one lockout budget, and of
//     the normalised name otherwise (both keys have the same shape). The attempt that
//     reaches the tenant's Lockout.Threshold sets the lock, and a locked counter refuses
//     at once: concurrent guesses cannot overshoot the threshold, because each one claims
//     its place in the counter before it may verify;
//  5. the password is verified; an unknown, disabled or password-less user is verified
//     against the Hasher's dummy hash, so it costs the same as a real one;
//  6. a success deletes the account counter (the claim of step 4 included); a failure
//     keeps it and adds one to the source address's window.
//
// A locked response is decided in steps 2–4, after the same lookups for an existing and
// an unknown name and before any hash is computed, so it takes the same (short) time and
// says the same thing for both. Locking an unknown name works exactly like locking a
// real one.
//
// Just-in-time import: when the name matches no user, the tenant has an import source
// (tenant.UserImport) and Config.Importer is set, step 5 asks the Importer instead of
// running the dummy hash: the legacy store checks the password and, when it vouches for
// it, the user is created through the admin API (ARCHITECTURE §3.3: north-south, never a
// write of this tier). The attempt was claimed in step 4 like any other; a rejection by
// the source is a failure like a wrong password (step 6), and an import that ends
// without a verdict (source or admin tier unavailable) gives its claim back. Such an
// attempt takes the source's time rather than a hash's, as it must.
//
// A throttle KV error before the password is verified fails closed (a wrapped
// kv.ErrUnavailable); after a correct password it is logged and the sign-in succeeds.
// A user store that cannot be read fails the attempt before anything is counted; an
// attempt that ends without a verdict after its claim (hasher saturated, request
// cancelled) gives it back, so overload does not lock anybody out.
//
// This package must never log a password, a hash, or the name typed in a failed attempt:
// it logs the tenant, the user ID of a success, and a short digest of the account key.
// It must never import a store implementation or the admin tier.
package authn
