// Package replay makes the login surface's non-idempotent requests safe to send twice.
//
// The edge gives every such request a random key in retrykey.Header, the same on each
// attempt (internal/retrykey). Middleware runs a request with a key once:
//
//   - The first attempt creates a pending marker in a bucket every login process of the
//     region shares (kv.Buckets.Replay) and runs the request on a context detached from
//     the caller's cancellation: the edge may have given up on this attempt, but the
//     work (a consumed code, a rotated refresh token) must finish so that its answer can
//     be recorded. A successful answer (below 400) replaces the marker, sealed; anything
//     else (an error answer, a panic, an answer too large to record) removes it, so that
//     a repeat runs the request again — a 4xx would be the same again, and not recording
//     them keeps requests that anyone can send (a bad client secret) from filling the
//     bucket.
//   - A repeat (the edge's retry after the first answer was lost on the way) finds the
//     entry: it waits while the marker is pending, then answers with the recorded
//     status, headers and body, plus retrykey.ReplayedHeader; it runs the request
//     itself if the marker disappears, and answers 503 with Retry-After when the first
//     attempt is still running after a bound.
//
// The entry's name (the record ID) is a digest of the key and of the request — method,
// path and query, the body and the headers that carry credentials — so a replay needs
// the identical request, and someone who reads the bucket learns neither. The record is
// sealed with AES-256-GCM under a key derived from the retry key (HKDF-SHA256), with the
// record ID as additional data; the retry key is never stored or logged, so the bucket's
// contents (tokens in a token response, cookies) are unreadable without it.
//
// Requests without the header (direct callers, tests, the all role without an edge) and
// safe methods (GET, HEAD, OPTIONS) pass through untouched. When the bucket cannot take
// the marker (NATS down and the process's fallback memory full, or the bucket full), the
// request runs without the protection: a sign-in never fails because of this package.
// It logs no key, body or answer.
package replay
