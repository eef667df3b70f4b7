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
// A cluster of several embedded servers (routes between nines processes) is not built
// yet; Options leaves room for it.
package natsd
