package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// RSABits is the size of generated RSA keys.
const RSABits = 2048

// Generate makes a new key for tenantID: RSA 2048 for RS256, P-256 for ES256, Ed25519
// for EdDSA. The kid is 128 random bits, base64url. The private key is sealed with kek
// (AES-256-GCM, bound to tenant, kid and algorithm) and exists in clear only here.
func Generate(alg Alg, tenantID uuid.UUID, state State, kek []byte) (Key, error) {
	if err := ValidateKEK(kek); err != nil {
		return Key{}, err
	}
	if !alg.Valid() {
		return Key{}, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if !state.Valid() {
		return Key{}, fmt.Errorf("keys: unknown state %q", state)
	}
	if tenantID == uuid.Nil {
		return Key{}, errors.New("keys: a key needs a tenant")
	}
	priv, err := newPrivate(alg)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("keys: marshal %s private key: %w", alg, err)
	}
	defer clear(der)
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	kid := base64URL.EncodeToString(b)
	pub, err := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}.MarshalJSON()
	if err != nil {
		return Key{}, fmt.Errorf("keys: public JWK: %w", err)
	}
	sealed, err := seal(kek, der, tenantID, kid, alg)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: kid, TenantID: tenantID, Alg: alg, State: state, PublicJWK: pub, Sealed: sealed,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}, nil
}

func newPrivate(alg Alg) (crypto.Signer, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case RS256:
		k, err = rsa.GenerateKey(rand.Reader, RSABits)
	case ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	return k, nil
}

// Signer opens k's private key with kek. It checks that the key is of k's algorithm and
// matches k's published public JWK, so a row whose columns were mixed up cannot sign.
func (k Key) Signer(kek []byte) (crypto.Signer, error) {
	der, err := open(kek, k.Sealed, k.TenantID, k.ID, k.Alg)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: private key does not parse", k.ID)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok || !fits(k.Alg, signer.Public()) {
		return nil, fmt.Errorf("keys: key %s: private key is not a %s key", k.ID, k.Alg)
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil || !jwk.IsPublic() {
		return nil, fmt.Errorf("keys: key %s: stored public JWK does not parse", k.ID)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := signer.Public().(equaler); !ok || !e.Equal(jwk.Key) {
		return nil, fmt.Errorf("keys: key %s: private key does not match its public JWK", k.ID)
	}
	return signer, nil
}

// fits reports whether pub is a key of the kind alg uses.
func fits(alg Alg, pub crypto.PublicKey) bool {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return alg == RS256 && p.N.BitLen() >= RSABits
	case *ecdsa.PublicKey:
		return alg == ES256 && p.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == EdDSA
	}
	return false
}

// PublicJWKS returns the JSON Web Key Set (RFC 7517 §5) of every key in ks, in order:
// public parts only. A stored JWK that carries anything private is an error, never
// published.
func PublicJWKS(ks []Key) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(ks))}
	for _, k := range ks {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
			return nil, fmt.Errorf("keys: key %s: public JWK does not parse", k.ID)
		}
		if !jwk.IsPublic() || !fits(k.Alg, jwk.Key) {
			return nil, fmt.Errorf("keys: key %s: stored JWK is not a public %s key", k.ID, k.Alg)
		}
		jwk.KeyID, jwk.Algorithm, jwk.Use = k.ID, string(k.Alg), "sig"
		set.Keys = append(set.Keys, jwk)
	}
	return json.Marshal(set)
}

var base64URL = base64.RawURLEncoding
