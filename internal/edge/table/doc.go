// Package table is the edge's routing table: the YAML file an operator writes (shards,
// their regions with exactly one primary, the login clusters of each region with their
// backends, the admin backends, the tenant → shard and tenant → release-channel
// directories, custom host names) and its strict validation.
//
// It only parses and checks; it never opens a connection or reads anything but the
// file it is given. The config package uses it to refuse a bad routing file at start-up,
// and the edge to (re)load the table.
package table
