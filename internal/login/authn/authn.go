package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

var (
	// ErrInvalidCredentials is the one answer for an unknown name, a wrong password, a
	// disabled user and a user without a password: the caller cannot tell them apart,
	// and neither can the person signing in.
	ErrInvalidCredentials = errors.New("authn: invalid credentials")
	// ErrLocked: too many failed attempts for the account or from the source address.
	// The concrete error is a *LockedError saying until when.
	ErrLocked = errors.New("authn: too many failed attempts")
	// ErrTenantDisabled: the tenant is disabled, nobody in it can sign in. It says
	// nothing about any user; the caller shows "sign-in unavailable" (ideally it never
	// renders a login form for a disabled tenant in the first place).
	ErrTenantDisabled = errors.New("authn: tenant disabled")
	// ErrImportUnavailable: the name matched no user, the tenant imports users from a
	// legacy store (tenant.UserImport), and that store gave no usable answer (down, slow,
	// malformed). The caller shows "could not check your account right now" (503); the
	// attempt is not counted.
	ErrImportUnavailable = errors.New("authn: user import source unavailable")
	// ErrProvisioningFailed: the import source vouched for the password but the user could
	// not be created through the admin API (admin unavailable or read-only, the
	// provisioning credential missing or refused, the profile refused). The caller shows
	// "your account could not be set up right now" (503); the attempt is not counted.
	ErrProvisioningFailed = errors.New("authn: user provisioning failed")
)

// Importer creates, during a sign-in, a user that does not exist yet, on the word of the
// tenant's import source (just-in-time provisioning, ARCHITECTURE §3.3). It is called
// only when the name matched no user of t and t.UserImport is enabled, after the attempt
// was admitted by the throttles. login is the name as typed (trimmed), pw the password.
//
// It returns the created user (never read back from a replica: it may lag) or an error
// that is ErrInvalidCredentials (the source rejected the credentials),
// ErrImportUnavailable or ErrProvisioningFailed. It must never log login or pw.
type Importer interface {
	Import(ctx context.Context, t tenant.Tenant, login, pw string) (user.User, error)
}

// LockedError is returned (as *LockedError) while an account or a source address is
// locked out. errors.Is(err, ErrLocked) is true for it.
type LockedError struct {
	Until time.Time // when the lock ends; the caller may say "try again later" but no more
}

func (e *LockedError) Error() string { return ErrLocked.Error() }

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Defaults of Config.
const (
	DefaultIPLimit  = 100
	DefaultIPWindow = 10 * time.Minute
)

// Input bounds: nothing longer can be a user's name (usernames ≤ 128 bytes, e-mail
// addresses ≤ 254) or password (user.MaxPasswordLen), so such input is refused before it
// costs a lookup or a hash.
const maxLoginLen = 254

// Config configures an Authenticator. Users, Hasher and Throttle are required.
type Config struct {
	Users    login.UserReader
	Hasher   *password.Hasher
	Throttle kv.Bucket      // the regional Throttle bucket
	Recorder login.Recorder // SignedIn after success; PasswordRehashed when Verify says rehash (nil: none)
	Now      func() time.Time
	Logger   *slog.Logger
	// IPLimit is how many failed attempts one source address may make against one tenant
	// in IPWindow before it is refused (default 100). IPv6 addresses count per /64.
	IPLimit  int
	IPWindow time.Duration // default 10m
	// TrustedProxy reports whether a source address is one of the proxies in front of
	// nines (clientip.Resolver.Trusts). The client-address resolver answers with a
	// trusted proxy only when it found no client address behind it; such attempts are
	// not counted per source address (only per account), so that one attacker cannot
	// block everybody behind the proxy. Nil: no source is a proxy.
	TrustedProxy func(sourceIP string) bool
	// Importer provisions unknown users of tenants with an import source; nil: names
	// that match no user are always ErrInvalidCredentials.
	Importer Importer
}

// hasher is what Authenticator needs of a *password.Hasher.
type hasher interface {
	Verify(ctx context.Context, pw, hash string) (ok, rehash bool, err error)
	Hash(ctx context.Context, pw string) (string, error)
}

// Authenticator checks passwords. It is safe for concurrent use.
type Authenticator struct {
	users    login.UserReader
	hasher   hasher
	throttle kv.Bucket
	recorder login.Recorder
	now      func() time.Time
	log      *slog.Logger
	ipLimit  int
	ipWindow time.Duration
	// trustedProxy: see Config.TrustedProxy.
	trustedProxy func(string) bool
	importer     Importer
}

// New returns an Authenticator for cfg, with defaults for the zero fields.
func New(cfg Config) *Authenticator {
	a := &Authenticator{users: cfg.Users, hasher: cfg.Hasher, throttle: cfg.Throttle, recorder: cfg.Recorder,
		now: cfg.Now, log: cfg.Logger, ipLimit: cfg.IPLimit, ipWindow: cfg.IPWindow, trustedProxy: cfg.TrustedProxy,
		importer: cfg.Importer}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.ipLimit <= 0 {
		a.ipLimit = DefaultIPLimit
	}
	if a.ipWindow <= 0 {
		a.ipWindow = DefaultIPWindow
	}
	return a
}

// cleanupTimeout bounds the writes made after the verdict (counter reset, claim release,
// recorder) which run detached from the request's cancellation.
const cleanupTimeout = 5 * time.Second

// Authenticate checks a username-or-email and a password for tenant t, from sourceIP
// (the client address the resolver found behind the trusted proxies, or a trusted
// proxy's own address when it found none: see Config.TrustedProxy). On success it returns the user, without
// the password hash. Errors: ErrInvalidCredentials; a *LockedError (ErrLocked);
// ErrTenantDisabled; password.ErrBusy when hashing is saturated or the account counter
// too contended (answer 503 with Retry-After); an error wrapping kv.ErrUnavailable when
// the throttle KV cannot be read or written (fail closed, 503); a wrapped user-store
// error. With an Importer, a name that matches no user of a tenant with an import source
// is checked by that source instead of the dummy hash (see Importer), which adds
// ErrImportUnavailable and ErrProvisioningFailed; the attempt was claimed like any other
// and a rejection counts as a failed password.
func (a *Authenticator) Authenticate(ctx context.Context, t tenant.Tenant, loginName, pw, sourceIP string) (user.User, error) {
	if t.ID == uuid.Nil {
		return user.User{}, errors.New("authn: tenant without an ID")
	}
	if t.Status == tenant.StatusDisabled {
		return user.User{}, ErrTenantDisabled
	}
	policy := t.Lockout
	if policy.Threshold <= 0 || policy.Duration <= 0 {
		policy = tenant.DefaultLockout
	}
	n := user.User{Username: loginName}
	n.Normalize()
	name := n.Username
	// Such input can match no user, existing or not: refusing it early reveals nothing.
	if name == "" || len(name) > maxLoginLen || pw == "" || len(pw) > user.MaxPasswordLen {
		return user.User{}, ErrInvalidCredentials
	}

	ad, err := a.admit(ctx, t, name, sourceIP, policy)
	if err != nil {
		return user.User{}, err
	}
	acct, ip, perIP, claim := ad.acct, ad.ip, ad.perIP, ad.claim

	var (
		u      user.User
		rehash bool
		verr   error
	)
	if a.importable(t, ad, name) {
		u, verr = a.importUser(ctx, t, strings.TrimSpace(loginName), pw)
	} else {
		u, rehash, verr = a.verify(ctx, t, ad.user, ad.found, pw)
	}
	detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	switch {
	case verr == nil:
		return a.succeeded(detached, t, u, pw, acct, rehash)
	case errors.Is(verr, ErrInvalidCredentials):
		if perIP {
			if err := a.countIPFailure(detached, ip); err != nil {
				a.log.WarnContext(ctx, "counting a failed sign-in by source address", "tenant", t.ID, "err", err)
			}
		}
		reason := reasonInvalid
		if claim.Until != 0 {
			reason = reasonLocked
		}
		if err := a.recordFailure(detached, t, ad.user.ID, sourceIP, reason); err != nil {
			return user.User{}, err
		}
		if claim.Until != 0 {
			a.log.InfoContext(ctx, "account locked after failed sign-ins", "tenant", t.ID,
				"account", shortDigest(acct), "failures", claim.Failures)
			return user.User{}, &LockedError{Until: time.UnixMilli(claim.Until)}
		}
		a.log.DebugContext(ctx, "sign-in failed", "tenant", t.ID, "account", shortDigest(acct), "failures", claim.Failures)
		return user.User{}, ErrInvalidCredentials
	default:
		// No verdict (busy hasher, cancelled): this was no guess.
		if err := a.release(detached, acct, policy); err != nil {
			a.log.WarnContext(ctx, "releasing an account counter claim", "tenant", t.ID, "account", shortDigest(acct), "err", err)
		}
		return user.User{}, verr
	}
}

// admission is what steps 2–4 of the pipeline (doc.go) decided about an attempt.
type admission struct {
	ip    string // the source address's counter key
	perIP bool   // the source address has a window (it is not a trusted proxy)
	user  user.User
	found bool         // the name matched user
	acct  string       // the account counter key
	claim accountState // the counter after this attempt's claim
}

// admit checks the source address's window, looks the user up and claims a place in the
// account counter; it refuses the attempt with a *LockedError or a KV or store error.
func (a *Authenticator) admit(ctx context.Context, t tenant.Tenant, name, sourceIP string, policy tenant.LockoutPolicy) (admission, error) {
	ad := admission{ip: ipKey(t.ID, sourceIP)}
	// A source that is itself a trusted proxy carries no client address: counting it
	// would put every user behind that proxy in one window (one attacker would lock the
	// tenant out for all of them), so such attempts count per account only.
	ad.perIP = a.trustedProxy == nil || !a.trustedProxy(sourceIP)
	if ad.perIP {
		if err := a.checkIP(ctx, ad.ip); err != nil {
			if errors.Is(err, ErrLocked) {
				// Not audited: a refusal costs no hash, and auditing each would let a
				// client write events without limit. The failure that set the limit was.
				a.log.DebugContext(ctx, "sign-in refused: source address over its limit", "tenant", t.ID, "address", shortDigest(ad.ip))
			}
			return admission{}, err
		}
	}
	// The user is looked up before the account counter is claimed, so that every name
	// of one user (username, e-mail address) counts against one counter. The lookup runs
	// the same queries whatever exists; an unknown name keeps a counter of its own.
	var err error
	ad.user, ad.found, err = a.lookup(ctx, t.ID, name)
	if err != nil {
		return admission{}, fmt.Errorf("authn: user lookup: %w", err)
	}
	ad.acct = accountKey(t.ID, name)
	if ad.found {
		ad.acct = userKey(t.ID, ad.user.ID)
	}
	if ad.claim, err = a.claim(ctx, ad.acct, policy); err != nil {
		if errors.Is(err, ErrLocked) {
			// Not audited (see above): the failure that locked the account was.
			a.log.DebugContext(ctx, "sign-in refused: account locked", "tenant", t.ID, "account", shortDigest(ad.acct))
		}
		return admission{}, err
	}
	return ad, nil
}

// verify checks the password of u (found: the lookup matched), always running one
// Verify.
func (a *Authenticator) verify(ctx context.Context, t tenant.Tenant, u user.User, found bool, pw string) (_ user.User, rehash bool, err error) {
	stored := ""
	if found && u.Status == user.StatusActive {
		stored = u.PasswordHash // "" for a user without a password: the dummy hash runs
	}
	ok, rehash, err := a.hasher.Verify(ctx, pw, stored)
	switch {
	case errors.Is(err, password.ErrMalformed):
		a.log.ErrorContext(ctx, "stored password hash is malformed", "tenant", t.ID, "user", u.ID)
		return user.User{}, false, ErrInvalidCredentials
	case err != nil:
		return user.User{}, false, err
	case !ok:
		return user.User{}, false, ErrInvalidCredentials
	}
	u.PasswordHash = ""
	return u, rehash, nil
}

// importable reports whether the attempt goes to the tenant's import source: nobody
// matched the name, the tenant has a source, and the name could be a username (a name
// nines could not hold is refused like any unknown one, without asking the source).
func (a *Authenticator) importable(t tenant.Tenant, ad admission, name string) bool {
	if a.importer == nil || ad.found || !t.UserImport.Enabled() {
		return false
	}
	for _, e := range (user.User{Username: name, Status: user.StatusActive}).Validate() {
		if e.Field == "username" {
			return false
		}
	}
	return true
}

// importUser asks the Importer, and holds what it returns to the rules a stored user
// meets: of this tenant, active, no hash carried along.
func (a *Authenticator) importUser(ctx context.Context, t tenant.Tenant, login, pw string) (user.User, error) {
	u, err := a.importer.Import(ctx, t, login, pw)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return user.User{}, ErrInvalidCredentials
	case err != nil:
		return user.User{}, err
	case u.ID == uuid.Nil || u.TenantID != t.ID || u.Status != user.StatusActive:
		a.log.ErrorContext(ctx, "user import returned an unusable user", "tenant", t.ID, "user", u.ID)
		return user.User{}, fmt.Errorf("%w: importer returned an unusable user", ErrProvisioningFailed)
	}
	u.PasswordHash = ""
	a.log.InfoContext(ctx, "user imported at sign-in", "tenant", t.ID, "user", u.ID)
	return u, nil
}

// lookup finds the user named name. A name with "@" is looked up as an e-mail address
// and also as a username (usernames may hold "@"), always both, so that the number of
// queries does not depend on what exists; the e-mail match wins.
func (a *Authenticator) lookup(ctx context.Context, tenantID uuid.UUID, name string) (user.User, bool, error) {
	byUsername := func() (user.User, bool, error) { return found(a.users.UserByUsername(ctx, tenantID, name)) }
	if !strings.Contains(name, "@") {
		return checkTenant(tenantID)(byUsername())
	}
	eu, eok, err := found(a.users.UserByEmail(ctx, tenantID, name))
	if err != nil {
		return user.User{}, false, err
	}
	uu, uok, err := byUsername()
	if err != nil {
		return user.User{}, false, err
	}
	if eok {
		return checkTenant(tenantID)(eu, true, nil)
	}
	return checkTenant(tenantID)(uu, uok, nil)
}

func found(u user.User, err error) (user.User, bool, error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return user.User{}, false, nil
	case err != nil:
		return user.User{}, false, err
	}
	return u, true, nil
}

// checkTenant treats a user of another tenant as unknown: a reader bug must not let one
// tenant's password open another's account.
func checkTenant(tenantID uuid.UUID) func(user.User, bool, error) (user.User, bool, error) {
	return func(u user.User, ok bool, err error) (user.User, bool, error) {
		if err != nil || !ok || u.TenantID != tenantID {
			return user.User{}, false, err
		}
		return u, true, nil
	}
}

// Reasons of a user.sign_in_failed record.
const (
	reasonInvalid = "invalid_credentials"
	reasonLocked  = "locked"
)

// recordFailure records a refused attempt for the audit trail (userID uuid.Nil when no
// account matched). An attempt that cannot be recorded is refused: the error wraps
// kv.ErrUnavailable (503), whatever the verdict would have been.
func (a *Authenticator) recordFailure(ctx context.Context, t tenant.Tenant, userID uuid.UUID, sourceIP, reason string) error {
	if a.recorder == nil {
		return nil
	}
	if err := a.recorder.SignInFailed(ctx, t.ID, userID, sourceIP, reason); err != nil {
		a.log.ErrorContext(ctx, "a failed sign-in could not be recorded; refusing the attempt", "tenant", t.ID, "err", err)
		return fmt.Errorf("authn: recording a failed sign-in: %w: %w", kv.ErrUnavailable, err)
	}
	return nil
}

// rehash stores a fresh hash of pw after a successful sign-in on a weaker stored hash. A
// failure is logged; the next sign-in tries again.
func (a *Authenticator) rehash(ctx context.Context, t tenant.Tenant, u user.User, pw string) {
	if a.recorder == nil {
		return
	}
	h, err := a.hasher.Hash(ctx, pw)
	if err == nil {
		err = a.recorder.PasswordRehashed(ctx, t.ID, u.ID, h)
	}
	if err != nil {
		a.log.WarnContext(ctx, "rehashing a password after sign-in", "tenant", t.ID, "user", u.ID, "err", err)
	}
}

// succeeded resets the account counter and records the sign-in; neither can fail it.
func (a *Authenticator) succeeded(ctx context.Context, t tenant.Tenant, u user.User, pw, acct string, rehash bool) (user.User, error) {
	if err := a.throttle.Delete(ctx, acct, 0); err != nil && !errors.Is(err, kv.ErrNotFound) {
		a.log.WarnContext(ctx, "resetting the account counter after sign-in", "tenant", t.ID, "user", u.ID, "err", err)
	}
	if a.recorder != nil {
		if err := a.recorder.SignedIn(ctx, t.ID, u.ID, a.now()); err != nil {
			a.log.WarnContext(ctx, "recording a sign-in", "tenant", t.ID, "user", u.ID, "err", err)
		}
	}
	if rehash {
		a.rehash(ctx, t, u, pw)
	}
	a.log.DebugContext(ctx, "signed in", "tenant", t.ID, "user", u.ID)
	return u, nil
}
