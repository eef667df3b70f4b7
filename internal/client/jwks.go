package client

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/ninesid/nines/internal/field"
)

// Limits of a client's JWKS.
const (
	MaxJWKSKeys  = 10
	MaxJWKSBytes = 64 << 10
	minRSABits   = 2048
)

// privateMembers are JWK members that carry private or symmetric key material (RFC 7518
// §6.2.2, §6.3.2, §6.4; RFC 8037 §2). A client registers public keys only.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// checkJWKS applies the rules of a client's "jwks" (RFC 7591 §2): required with
// private_key_jwt, forbidden otherwise; a JSON Web Key Set (RFC 7517 §5) of at most
// MaxJWKSKeys public signing keys — RSA of at least 2048 bits, EC P-256/384/521 or
// Ed25519 — each with a distinct kid.
func checkJWKS(es *field.Errors, a Application) {
	const name = "jwks"
	present := len(bytes.TrimSpace(a.JWKS)) > 0 && !bytes.Equal(bytes.TrimSpace(a.JWKS), []byte("null"))
	switch {
	case a.TokenEndpointAuthMethod == AuthPrivateKeyJWT && !present:
		es.Add(name, "is required with token_endpoint_auth_method private_key_jwt")
		return
	case a.TokenEndpointAuthMethod != AuthPrivateKeyJWT && present:
		es.Add(name, "is allowed only with token_endpoint_auth_method private_key_jwt")
		return
	case !present:
		return
	}
	if reason := jwksProblem(a.JWKS); reason != "" {
		es.Add(name, reason)
	}
}

// jwksProblem returns why raw is not an acceptable client JWKS, or "". The reason never
// quotes key material.
func jwksProblem(raw []byte) string {
	if len(raw) > MaxJWKSBytes {
		return fmt.Sprintf("must be at most %d bytes", MaxJWKSBytes)
	}
	// go-jose accepts private keys when it parses a JWK, so private members are refused
	// before anything is parsed as a key.
	var shallow struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &shallow); err != nil || shallow.Keys == nil {
		return `must be a JSON Web Key Set: an object with a "keys" array`
	}
	switch n := len(shallow.Keys); {
	case n == 0:
		return "must hold at least one key"
	case n > MaxJWKSKeys:
		return fmt.Sprintf("must hold at most %d keys", MaxJWKSKeys)
	}
	for i, k := range shallow.Keys {
		for _, m := range privateMembers {
			if _, ok := k[m]; ok {
				return fmt.Sprintf("key %d holds private or symmetric key material (%q); register public keys only", i, m)
			}
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return "is not a valid JSON Web Key Set"
	}
	kids := map[string]bool{}
	for i, k := range set.Keys {
		switch {
		case k.KeyID == "":
			return fmt.Sprintf("key %d has no kid", i)
		case len(k.KeyID) > 200:
			return fmt.Sprintf("key %d: kid must be at most 200 bytes", i)
		case kids[k.KeyID]:
			return fmt.Sprintf("key %d: kid %s is used twice", i, quote(k.KeyID))
		case k.Use != "" && k.Use != "sig":
			return fmt.Sprintf("key %d: use must be \"sig\"", i)
		case !k.Valid() || !k.IsPublic():
			return fmt.Sprintf("key %d is not a public key", i)
		}
		if reason := keyTypeProblem(k); reason != "" {
			return fmt.Sprintf("key %d: %s", i, reason)
		}
		kids[k.KeyID] = true
	}
	return ""
}

func keyTypeProblem(k jose.JSONWebKey) string {
	switch p := k.Key.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return "RSA keys must have at least 2048 bits"
		}
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return "EC keys must be on P-256, P-384 or P-521"
		}
	case ed25519.PublicKey:
	default:
		return "unsupported key type (RSA, EC or Ed25519 only)"
	}
	return ""
}
