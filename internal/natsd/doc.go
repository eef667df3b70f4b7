// Package natsd runs a NATS server with JetStream inside the nines process: the broker
// and KV store of the embedded default (`nines serve` with no NATS_URL), and of tests.
//
// The server keeps its JetStream file store under one directory and fsyncs every write
// (SyncAlways): a KV write or a command acknowledged to the login tier survives power
// loss. By default it opens no TCP port at all; clients in the process connect through
// Connect. It must never enable the WebSocket, MQTT or leafnode listeners (where most
// of nats-server's published vulnerabilities were), never install signal handlers, and
// never log message payloads.
//
// With Options.Cluster the server is one member of a JetStream cluster: it listens for
// routes from its peers and dials theirs (`nines serve --role=nats`, three members on
// one machine for a local topology). It never enables route or client authentication
// or TLS: such a cluster belongs on loopback or a private network. In production, run
// NATS as its own cluster.
package natsd
