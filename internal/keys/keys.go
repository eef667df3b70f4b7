// Package keys holds tenants' token-signing keys: generation (RS256, ES256, EdDSA),
// sealing of private keys with the key-encryption key (KEK), rotation states and the
// public JWKS. Private keys exist in clear only in memory; the store holds them sealed.
// This package must never log key material or the KEK.
package keys

import (
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
