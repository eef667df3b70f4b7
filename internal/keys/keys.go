// Package keys holds tenants' token-signing keys: generation (RS256, ES256, EdDSA),
// sealing of private keys with the key-encryption key (KEK), rotation states and the
// public JWKS. Private keys exist in clear only in memory; the store holds them sealed.
// This package must never log key material or the KEK.
package keys

import (
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Alg is a JWS signing algorithm nines signs with.
type Alg string

const (
	RS256 Alg = "RS256" // the OIDC default; every tenant has RS256 keys
	ES256 Alg = "ES256"
	EdDSA Alg = "EdDSA" // Ed25519
)

// Algs are every algorithm a tenant has keys for.
var Algs = []Alg{RS256, ES256, EdDSA}

// State is where a key is in its rotation. Per tenant and algorithm there is one key in
// each state: Next is published (so verifiers cache it before it signs), Current signs,
// Previous is published so tokens it signed still verify.
type State string

const (
	Next     State = "next"
	Current  State = "current"
	Previous State = "previous"
)

// Key is one stored signing key.
type Key struct {
	ID        string // the JWK "kid": random, unique
	TenantID  uuid.UUID
	Alg       Alg
	State     State
	PublicJWK []byte // JSON of the public JWK (kid, alg, use "sig")
	Sealed    []byte // the private key (PKCS #8 DER) sealed with the KEK
	CreatedAt time.Time
}

// Valid reports whether a is an algorithm nines signs with.
func (a Alg) Valid() bool { return slices.Contains(Algs, a) }

// Valid reports whether s is a rotation state.
func (s State) Valid() bool { return s == Next || s == Current || s == Previous }

// LogValue keeps the sealed private key out of logs: only kid, algorithm and state.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID), slog.String("alg", string(k.Alg)),
		slog.String("state", string(k.State)))
}

// String names k without its sealed private key, so that %v and %+v never print it.
func (k Key) String() string {
	return "signing key " + k.ID + " (" + string(k.Alg) + ", " + string(k.State) + ")"
}

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }

// MarshalJSON writes k's public parts only: a Key marshalled by mistake (a debug dump, an
// API that forgot to convert it) never carries the sealed private key.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		KID       string          `json:"kid"`
		Alg       Alg             `json:"alg"`
		State     State           `json:"state"`
		CreatedAt time.Time       `json:"created_at"`
		PublicJWK json.RawMessage `json:"public_jwk,omitempty"`
	}{k.ID, k.Alg, k.State, k.CreatedAt, json.RawMessage(k.PublicJWK)})
}
