// Package edge is the public entry point of nines (ARCHITECTURE.md §5): a reverse proxy
// on net/http/httputil.ReverseProxy that routes every request by tier (login paths to
// login clusters, admin and SCIM paths to the admin tier of the shard's primary region,
// anything else 404) and by tenant (tenant → shard → region → release channel →
// cluster), splits a region's login traffic between its clusters by weight and a
// cluster's between its backends by power-of-two-choices on outstanding requests, and
// takes out what is unhealthy: active probes of /readyz and passive outlier detection
// on live traffic, each capped so that it never ejects more than a configured share.
// A connect failure, an idempotent request that timed out or got a failing 5xx before
// any byte reached the client, and a login request with a retry key (internal/retrykey:
// the edge gives one to every non-idempotent login request, the login tier answers a
// repeat from its record) that timed out or got 502/503/504, is retried once on another
// backend within a retry budget, in another cluster and another zone when one can take
// it.
//
// Instance affinity (affinity.go, internal/affinity): a login backend may name its
// process's instance tag in the routing table; a login request whose artifact (a form's
// code, refresh token, device code or request ID, the login page's request ID, the
// session cookie) carries that tag goes to that backend on its first attempt while it
// is usable, so that a flow completes on the process holding its state when NATS is
// down.
//
// The traffic-control API (control.go) changes weights, shifts traffic gradually, drains
// a cluster or a zone, fails a region over after a pre-scale check, and undoes; every
// change is an audit event, and the operator's state persists in a file so that a
// restart brings no drained target back.
//
// The edge must never read or write a database or NATS, never derive anything from the
// client's Forwarded / X-Forwarded-* headers (it overwrites them), and never log a
// request's path, query, headers or body.
package edge
