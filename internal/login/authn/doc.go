// Package authn checks end-user passwords for the login tier, with brute-force throttling
// per account and per source address and the tenant's lockout policy.
//
// Every attempt follows one pipeline, whatever the name typed:
//
//  1. the tenant must be active (ErrTenantDisabled otherwise, before any work);
//  2. the source address's failure window is read: at IPLimit failures it is blocked;
//  3. the account counter, keyed by the tenant and a digest of the normalised name, is
//     incremented with compare-and-swap BEFORE the password is checked. The attempt that
//     reaches the tenant's Lockout.Threshold sets the lock, and a locked counter refuses
//     at once: concurrent guesses cannot overshoot the threshold, because each one claims
//     its place in the counter before it may verify;
//  4. the user is looked up (e-mail when the name holds "@", then username) and the
//     password verified; an unknown, disabled or password-less user is verified against
//     the Hasher's dummy hash, so it costs the same as a real one;
//  5. a success deletes the account counter (the claim of step 3 included); a failure
//     keeps it and adds one to the source address's window.
//
// A locked response is decided in steps 2–3 from the name's digest alone, before the user
// is looked up or any hash is computed, so it takes the same (short) time and says the
// same thing for existing and unknown names. Locking an unknown name works exactly like
// locking a real one.
//
// A throttle KV error before the password is verified fails closed (a wrapped
// kv.ErrUnavailable); after a correct password it is logged and the sign-in succeeds.
// An attempt that ends without a verdict (hasher saturated, user store unreachable,
// request cancelled) gives back its claim on the account counter, so overload does not
// lock anybody out.
//
// This package must never log a password, a hash, or the name typed in a failed attempt:
// it logs the tenant, the user ID of a success, and a short digest of the account key.
// It must never import a store implementation or the admin tier.
package authn
