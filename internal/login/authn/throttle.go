package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/tenant"
)

// maxCAS bounds the compare-and-swap retries on one counter. Every lost round means
// another writer won, so it covers that many concurrent attempts on one key; beyond it
// the attempt is refused as busy rather than left uncounted.
const maxCAS = 64

// The throttle keys hold the tenant ID and a SHA-256 digest of the tenant ID and the name
// (or address), never the name itself. The digest is not secret (a name can be guessed
// and hashed); it keeps names out of the KV's key space and the logs, differs between
// tenants so that logs cannot correlate one name across them, and gives every key the
// same shape.
func accountKey(tenantID uuid.UUID, name string) string {
	return "acct." + tenantID.String() + "." + digest("nines/authn/account\x00"+tenantID.String()+"\x00"+name)
}

// userKey is the account key of an existing user: keyed by the user ID, so that every
// name the user signs in with counts against one counter. It has the shape of a name's
// key (and a different digest domain, so no name can collide with it): the key space
// does not tell existing users from unknown names.
func userKey(tenantID, userID uuid.UUID) string {
	return "acct." + tenantID.String() + "." + digest("nines/authn/user\x00"+tenantID.String()+"\x00"+userID.String())
}

func ipKey(tenantID uuid.UUID, sourceIP string) string {
	return "ip." + tenantID.String() + "." + digest("nines/authn/ip\x00"+tenantID.String()+"\x00"+addressBucket(sourceIP))
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// shortDigest is what logs show of a key: enough to correlate lines, too little to
// guess a name from.
func shortDigest(key string) string {
	i := strings.LastIndexByte(key, '.')
	return key[i+1 : i+9]
}

// addressBucket is what a source address counts against: an IPv4 address, or the /64 of
// an IPv6 address (one subscriber usually holds a whole /64). An address that does not
// parse shares one bucket per spelling.
func addressBucket(s string) string {
	s = strings.TrimSpace(s)
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return "raw:" + s
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// accountState is the value under an account key. Times are Unix milliseconds.
type accountState struct {
	Failures int   `json:"n"`               // consecutive failures, claims in flight included
	Last     int64 `json:"last"`            // the latest claim
	Until    int64 `json:"until,omitempty"` // locked until; 0 = not locked
}

// ipState is the value under a source-address key: a fixed window.
type ipState struct {
	Failures int   `json:"n"`
	Start    int64 `json:"start"` // Unix ms when the window opened
}

// unavailable makes a throttle KV error fail closed as kv.ErrUnavailable.
func unavailable(op string, err error) error {
	if errors.Is(err, kv.ErrUnavailable) {
		return fmt.Errorf("authn: %s: %w", op, err)
	}
	return fmt.Errorf("authn: %s: %w: %w", op, kv.ErrUnavailable, err)
}

// errContended: a counter stayed contended through maxCAS rounds. It is password.ErrBusy
// to the caller (503 with Retry-After, "sign-in is busy").
var errContended = fmt.Errorf("authn: throttle counter contended: %w", password.ErrBusy)

// backoff sleeps a few random milliseconds after a lost compare-and-swap, so that
// writers on one key spread out instead of colliding again.
func backoff(ctx context.Context, round int) {
	limit := min(1<<min(round, 5), 20)
	t := time.NewTimer(time.Duration(rand.IntN(limit)+1) * time.Millisecond / 2)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// read returns key's value decoded into v (left zero when absent or unreadable) and its
// revision (0 when absent).
func (a *Authenticator) read(ctx context.Context, key string, v any) (uint64, error) {
	e, err := a.throttle.Get(ctx, key)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	if json.Unmarshal(e.Value, v) != nil {
		// A value this version cannot read counts as a fresh counter; the write below
		// replaces it under compare-and-swap.
		a.log.Warn("unreadable throttle value replaced", "key_digest", shortDigest(key))
	}
	return e.Revision, nil
}

// write stores v under key: Create when rev is 0, Update at rev otherwise.
func (a *Authenticator) write(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return a.throttle.Create(ctx, key, b)
	}
	return a.throttle.Update(ctx, key, b, rev)
}

func lost(err error) bool { return errors.Is(err, kv.ErrConflict) || errors.Is(err, kv.ErrExists) }

// claim counts this attempt as a failure of the account before the password is checked,
// and refuses it if the account is locked. The attempt that reaches the threshold sets
// the lock; a success deletes the counter, lock included.
func (a *Authenticator) claim(ctx context.Context, key string, policy tenant.LockoutPolicy) (accountState, error) {
	for round := range maxCAS {
		var st accountState
		rev, err := a.read(ctx, key, &st)
		if err != nil {
			return accountState{}, unavailable("reading the account counter", err)
		}
		now := a.now()
		if st.Until != 0 && now.Before(time.UnixMilli(st.Until)) {
			return st, &LockedError{Until: time.UnixMilli(st.Until)}
		}
		if st.Until != 0 || now.Sub(time.UnixMilli(st.Last)) > kv.ThrottleTTL {
			st = accountState{} // the lock was served, or the failures are stale: start again
		}
		st.Failures++
		st.Last = now.UnixMilli()
		if st.Failures >= policy.Threshold {
			st.Until = now.Add(policy.Duration).UnixMilli()
		}
		_, err = a.write(ctx, key, st, rev)
		switch {
		case err == nil:
			return st, nil
		case lost(err):
			backoff(ctx, round)
		default:
			return accountState{}, unavailable("counting an attempt", err)
		}
	}
	return accountState{}, errContended
}

// release gives back a claim whose attempt ended without a verdict. It is best effort:
// whatever happened to the counter meanwhile, it removes one failure and the lock if the
// count falls below the threshold.
func (a *Authenticator) release(ctx context.Context, key string, policy tenant.LockoutPolicy) error {
	for round := range maxCAS {
		var st accountState
		rev, err := a.read(ctx, key, &st)
		switch {
		case err != nil:
			return err
		case rev == 0:
			return nil // reset meanwhile by a success
		}
		st.Failures = max(st.Failures-1, 0)
		if st.Failures < policy.Threshold {
			st.Until = 0
		}
		if st.Failures == 0 {
			err = a.throttle.Delete(ctx, key, rev)
		} else {
			_, err = a.write(ctx, key, st, rev)
		}
		switch {
		case err == nil:
			return nil
		case lost(err):
			backoff(ctx, round)
		default:
			return err
		}
	}
	return errContended
}

// checkIP refuses the attempt while the source address has IPLimit failures in its
// current window.
func (a *Authenticator) checkIP(ctx context.Context, key string) error {
	var st ipState
	if _, err := a.read(ctx, key, &st); err != nil {
		return unavailable("reading the source address counter", err)
	}
	end := time.UnixMilli(st.Start).Add(a.ipWindow)
	if st.Failures >= a.ipLimit && a.now().Before(end) {
		return &LockedError{Until: end}
	}
	return nil
}

// countIPFailure adds a failure to the source address's window, opening a new window
// when the last one has ended. Attempts in flight are not claimed here as they are for
// the account, so a burst may overshoot IPLimit by the attempts verifying at that moment
// (bounded by the Hasher's concurrency and queue).
func (a *Authenticator) countIPFailure(ctx context.Context, key string) error {
	for round := range maxCAS {
		var st ipState
		rev, err := a.read(ctx, key, &st)
		if err != nil {
			return err
		}
		now := a.now()
		if st.Start == 0 || !now.Before(time.UnixMilli(st.Start).Add(a.ipWindow)) {
			st = ipState{Start: now.UnixMilli()}
		}
		st.Failures++
		_, err = a.write(ctx, key, st, rev)
		switch {
		case err == nil:
			return nil
		case lost(err):
			backoff(ctx, round)
		default:
			return err
		}
	}
	return errContended
}
