package bus

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/login"
)

// Recorder is the login tier's login.Recorder on the broker: each sign-in fact becomes a
// command (user.signed_in, user.password_rehashed, user.sign_in_failed) that a worker
// applies on the primary. The first two are Drop commands: with the broker down and the
// spool full they are lost, and the sign-in still succeeds; user.sign_in_failed is a
// Fail command (ErrSpoolFull: the attempt is refused rather than left unaudited).
type Recorder struct {
	Publisher CommandPublisher
	// Now stamps commands (default time.Now).
	Now func() time.Time
	// SourceKey keys the digest of a failed attempt's client address, so that the audit
	// trail can tell attempts from one source apart without storing the address (an
	// unkeyed digest of an IPv4 address is reversed by trying all 2^32). Every login
	// process of a deployment must use the same key (derive it from the KEK:
	// SourceKeyFromKEK). Empty: a random key of this process.
	SourceKey []byte
}

// processSourceKey is the SourceKey of a Recorder that has none.
var processSourceKey = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}()

// SourceKeyFromKEK derives the deployment's source-digest key from its KEK (HKDF-SHA256).
func SourceKeyFromKEK(kek []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, kek, nil, "nines sign-in source digest v1", 32)
}

// sourceDigest is the keyed digest of a client address: 128 bits, lower-case hex.
func (r Recorder) sourceDigest(source string) string {
	key := r.SourceKey
	if len(key) == 0 {
		key = processSourceKey
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(source))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (r Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SignedIn publishes user.signed_in.
func (r Recorder) SignedIn(ctx context.Context, tenantID, userID uuid.UUID, at time.Time) error {
	c, err := command.NewSignedIn(tenantID, userID, at)
	if err != nil {
		return err
	}
	return r.Publisher.Publish(ctx, c)
}

// PasswordRehashed publishes user.password_rehashed.
func (r Recorder) PasswordRehashed(ctx context.Context, tenantID, userID uuid.UUID, hash string) error {
	c, err := command.NewPasswordRehashed(tenantID, userID, hash, r.now())
	if err != nil {
		return err
	}
	return r.Publisher.Publish(ctx, c)
}

// SignInFailed publishes user.sign_in_failed with a keyed digest of source.
func (r Recorder) SignInFailed(ctx context.Context, tenantID, userID uuid.UUID, source, reason string) error {
	c, err := command.NewSignInFailed(tenantID, userID, r.sourceDigest(source), reason, r.now())
	if err != nil {
		return err
	}
	return r.Publisher.Publish(ctx, c)
}

var _ login.Recorder = Recorder{}
