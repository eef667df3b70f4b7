package client

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// jwk is the JSON of key as a JWK with kid.
func jwk(t *testing.T, key any, kid string) string {
	t.Helper()
	b, err := jose.JSONWebKey{Key: key, KeyID: kid}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func set(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }

func TestApplicationJWKS(t *testing.T) {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024) // deliberately weak: must be refused
	if err != nil {
		t.Fatal(err)
	}
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)

	rsaPub := jwk(t, &rsa2048.PublicKey, "r1")
	many := make([]string, MaxJWKSKeys+1)
	for i := range many {
		many[i] = jwk(t, edPub, fmt.Sprintf("k%d", i))
	}
	withUse := func(j, use string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(j), &m)
		m["use"] = use
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name   string
		method string
		jwks   string
		ok     bool
	}{
		{"RSA, EC and Ed25519", AuthPrivateKeyJWT, set(rsaPub, jwk(t, &ec256.PublicKey, "e1"), jwk(t, &ec384.PublicKey, "e2"),
			jwk(t, &ec521.PublicKey, "e3"), jwk(t, edPub, "d1")), true},
		{"use sig", AuthPrivateKeyJWT, set(withUse(rsaPub, "sig")), true},
		{"ten keys", AuthPrivateKeyJWT, set(many[:MaxJWKSKeys]...), true},
		{"required with private_key_jwt", AuthPrivateKeyJWT, "", false},
		{"null with private_key_jwt", AuthPrivateKeyJWT, "null", false},
		{"forbidden with a secret", AuthSecretBasic, set(rsaPub), false},
		{"eleven keys", AuthPrivateKeyJWT, set(many...), false},
		{"no keys", AuthPrivateKeyJWT, set(), false},
		{"not a set", AuthPrivateKeyJWT, rsaPub, false},
		{"an array", AuthPrivateKeyJWT, `[` + rsaPub + `]`, false},
		{"a string", AuthPrivateKeyJWT, `"keys"`, false},
		{"malformed", AuthPrivateKeyJWT, `{"keys":[`, false},
		{"no kid", AuthPrivateKeyJWT, set(jwk(t, &ec256.PublicKey, "")), false},
		{"duplicate kid", AuthPrivateKeyJWT, set(jwk(t, &ec256.PublicKey, "x"), jwk(t, edPub, "x")), false},
		{"RSA 1024", AuthPrivateKeyJWT, set(jwk(t, &rsa1024.PublicKey, "weak")), false},
		{"private RSA", AuthPrivateKeyJWT, set(jwk(t, rsa2048, "p")), false},
		{"private EC", AuthPrivateKeyJWT, set(jwk(t, ec256, "p")), false},
		{"private Ed25519", AuthPrivateKeyJWT, set(jwk(t, edPriv, "p")), false},
		{"symmetric", AuthPrivateKeyJWT, set(jwk(t, []byte("0123456789abcdef0123456789abcdef"), "s")), false},
		{"encryption key", AuthPrivateKeyJWT, set(withUse(rsaPub, "enc")), false},
		{"unknown kty", AuthPrivateKeyJWT, set(`{"kty":"XYZ","kid":"u"}`), false},
		{"too large", AuthPrivateKeyJWT, `{"keys":[],"pad":"` + strings.Repeat("a", MaxJWKSBytes) + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Application{ClientID: "svc", ClientName: "Service", GrantTypes: []string{GrantClientCredentials},
				TokenEndpointAuthMethod: tt.method, JWKS: []byte(tt.jwks)}
			a.ApplyDefaults()
			es := a.Validate()
			if tt.ok && len(es) != 0 {
				t.Fatalf("Validate = %v, want valid", es)
			}
			if !tt.ok {
				if len(es) != 1 || es[0].Field != "jwks" {
					t.Fatalf("Validate = %v, want one problem on jwks", es)
				}
				// The text never echoes the submitted keys.
				if strings.ContainsAny(es[0].Detail, "{}") || len(es[0].Detail) > 200 {
					t.Errorf("the problem echoes its input: %s", es[0].Detail)
				}
			}
		})
	}
}
