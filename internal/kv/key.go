package kv

import (
	"context"
	"errors"
	"fmt"
)

// MaxKeyLen is the longest key a bucket accepts.
const MaxKeyLen = 256

// ErrInvalidKey: the key is empty, longer than MaxKeyLen or has a character outside
// [-_=.a-zA-Z0-9]. It is a caller's bug, never a state of the store.
var ErrInvalidKey = errors.New("kv: invalid key")

// ErrInvalidRevision: Update was given revision 0 (use Create for a key that must not
// exist).
var ErrInvalidRevision = errors.New("kv: invalid revision")

// CheckKey returns nil when key is usable in every bucket implementation, ErrInvalidKey
// (wrapped with the reason, never the key) otherwise. Dots are allowed, but a key may not
// start or end with one or hold two in a row: NATS subjects forbid empty tokens.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey, len(key), MaxKeyLen)
	case key[0] == '.' || key[len(key)-1] == '.':
		return fmt.Errorf("%w: starts or ends with a dot", ErrInvalidKey)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '=':
		case c == '.':
			if key[i-1] == '.' {
				return fmt.Errorf("%w: empty token between dots at byte %d", ErrInvalidKey, i)
			}
		default:
			return fmt.Errorf("%w: byte %d is not one of [-_=.a-zA-Z0-9]", ErrInvalidKey, i)
		}
	}
	return nil
}

// unavailable wraps a cause (a context error, a transport error) as ErrUnavailable so
// that callers can test for either.
func unavailable(cause error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

// begin checks what every Bucket method checks first: the key, then the context.
func begin(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	return nil
}
