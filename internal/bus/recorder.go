package bus

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/login"
)

// Recorder is the login tier's login.Recorder on the broker: each sign-in fact becomes a
// command (user.signed_in, user.password_rehashed) that a worker applies on the
// primary. Both are Drop commands: with the broker down and the spool full they are
// lost, and the sign-in still succeeds.
type Recorder struct {
	Publisher CommandPublisher
	// Now stamps commands (default time.Now).
	Now func() time.Time
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

var _ login.Recorder = Recorder{}
