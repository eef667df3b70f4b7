// Package metrics is the Prometheus side of a nines process (ARCHITECTURE.md §8): one
// dedicated registry per process (never the global default one), with the Go runtime
// and process collectors, the HTTP request counters and latency histograms, and
// collectors that read the state other packages already keep (the command spool, the
// worker's counters, the databases' health and replica lag) at scrape time.
//
// Every series carries the process's role, region, cluster and zone as constant
// labels. HTTP series are labelled by the matched route pattern (r.Pattern), never by
// the raw path, which holds tenant names, user input and secrets; and never by tenant,
// whose number is unbounded. The package must never label a series with request data.
package metrics
