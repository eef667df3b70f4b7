package session

// Key is the KV key derivation, for tests that read the bucket.
var Key = key
