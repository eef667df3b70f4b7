package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// KEKSize is the length of a key-encryption key: AES-256.
const KEKSize = 32

var (
	// ErrKEK: the key-encryption key is not exactly KEKSize bytes.
	ErrKEK = errors.New("keys: the key-encryption key must be exactly 32 bytes")
	// ErrOpen: a sealed key did not open. The KEK is wrong, or the sealed bytes were
	// altered, or they were moved to another tenant, key ID or algorithm. The text never
	// says which, and never carries key material.
	ErrOpen = errors.New("keys: sealed private key does not open (wrong KEK, or altered or moved)")
)

// ValidateKEK reports ErrKEK unless kek is exactly KEKSize bytes.
func ValidateKEK(kek []byte) error {
	if len(kek) != KEKSize {
		return ErrKEK
	}
	return nil
}

// sealVersion is the first byte of every sealed blob, so that the format can change.
const sealVersion = 1

// additionalData binds a sealed key to where it belongs: tenant, kid and algorithm. A
// sealed blob copied to another row fails to open. The state is left out on purpose:
// rotation moves a key from next to current to previous without re-sealing it.
func additionalData(tenantID uuid.UUID, kid string, alg Alg) []byte {
	ad := make([]byte, 0, 64)
	ad = append(ad, "nines signing key v1"...)
	ad = append(ad, tenantID[:]...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(kid)))
	ad = append(ad, kid...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(alg)))
	ad = append(ad, alg...)
	return ad
}

func newGCM(kek []byte) (cipher.AEAD, error) {
	if err := ValidateKEK(kek); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain with AES-256-GCM under kek with a random 96-bit nonce:
// version byte ‖ nonce ‖ ciphertext and tag.
func seal(kek, plain []byte, tenantID uuid.UUID, kid string, alg Alg) ([]byte, error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // crypto/rand.Read never fails (Go 1.24+)
	return aead.Seal(out, out[1:], plain, additionalData(tenantID, kid, alg)), nil
}

// open reverses seal. Any failure other than a bad KEK is ErrOpen.
func open(kek, sealed []byte, tenantID uuid.UUID, kid string, alg Alg) ([]byte, error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrOpen
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], additionalData(tenantID, kid, alg))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
