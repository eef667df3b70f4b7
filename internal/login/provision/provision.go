package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// EventPublisher publishes the user.provisioned audit event (*bus.Publisher).
type EventPublisher interface {
	Publish(ctx context.Context, c command.Command) error
}

// EventType is the audit event recorded for every user created at sign-in.
const EventType = "user.provisioned"

// Defaults of Config.
const (
	DefaultMaxConcurrent = 32
	// DefaultConflictWindow: see Config.ConflictWindow.
	DefaultConflictWindow = time.Minute
)

// Config configures a Provisioner. PublicURL is required.
type Config struct {
	// PublicURL is NINES_PUBLIC_URL: the admin API is reached at PublicURL/admin/v1/,
	// the way every outside client reaches it (through the edge in production).
	PublicURL string
	// Token is NINES_PROVISIONING_TOKEN, a provision-scoped admin API token; "": every
	// import that the source vouches for fails, with an error log naming the setting.
	Token string
	// Events records user.provisioned; nil: none (the admin API's own log line remains).
	Events EventPublisher
	// HTTP is the client of both calls; nil: NewHTTPClient().
	HTTP          *http.Client
	SourceTimeout time.Duration // 0: DefaultSourceTimeout
	AdminTimeout  time.Duration // 0: DefaultAdminTimeout
	// MaxConcurrent bounds the imports in flight in this process; the next one waits at
	// most a second for a slot and then fails as ErrImportUnavailable. 0: the default.
	MaxConcurrent int
	// ConflictWindow: when the admin API answers 409 (the user exists), the sign-in goes
	// on with that user only if it was created this recently, has a password and was
	// never changed (version 1): another sign-in of the same person created it a moment
	// ago. Anything else is refused, since the source's word says nothing about the
	// password nines holds for an older account (a replica that lags showed no user).
	ConflictWindow time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

// Provisioner is the authn.Importer of the login tier. It is safe for concurrent use.
type Provisioner struct {
	source  SourceClient
	admin   AdminClient
	events  EventPublisher
	slots   chan struct{}
	window  time.Duration
	log     *slog.Logger
	now     func() time.Time
	noToken bool
}

// New returns a Provisioner for cfg.
func New(cfg Config) (*Provisioner, error) {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("provision: the public URL must be an absolute http(s) URL")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = NewHTTPClient()
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.ConflictWindow <= 0 {
		cfg.ConflictWindow = DefaultConflictWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Token == "" {
		cfg.Logger.Warn("NINES_PROVISIONING_TOKEN is not set: sign-ins that would import a user from a tenant's " +
			"legacy user store will fail; everything else works")
	}
	return &Provisioner{
		source:  SourceClient{HTTP: cfg.HTTP, Timeout: cfg.SourceTimeout},
		admin:   AdminClient{BaseURL: cfg.PublicURL, Token: cfg.Token, HTTP: cfg.HTTP, Timeout: cfg.AdminTimeout},
		events:  cfg.Events,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		window:  cfg.ConflictWindow,
		log:     cfg.Logger,
		now:     cfg.Now,
		noToken: cfg.Token == "",
	}, nil
}

// slotWait bounds how long an import waits for a free slot.
const slotWait = time.Second

// Import implements authn.Importer: the source checks login and pw; when it vouches for
// them, the user is created through the admin API and returned.
func (p *Provisioner) Import(ctx context.Context, t tenant.Tenant, login, pw string) (user.User, error) {
	wait := time.NewTimer(slotWait)
	defer wait.Stop()
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-wait.C:
		p.logf(ctx, slog.LevelWarn, t, "user import: too many imports in flight", nil)
		return user.User{}, fmt.Errorf("%w: too many imports in flight", authn.ErrImportUnavailable)
	case <-ctx.Done():
		return user.User{}, fmt.Errorf("%w: %w", authn.ErrImportUnavailable, ctx.Err())
	}

	prof, err := p.source.Check(ctx, t.UserImport.URL, login, pw)
	switch {
	case errors.Is(err, ErrRejected):
		p.logf(ctx, slog.LevelDebug, t, "user import: the source rejected the credentials", err)
		return user.User{}, fmt.Errorf("%w: %w", authn.ErrInvalidCredentials, err)
	case err != nil:
		p.logf(ctx, slog.LevelError, t, "user import: the tenant's import source is unavailable; that sign-in failed", err)
		return user.User{}, fmt.Errorf("%w: %w", authn.ErrImportUnavailable, err)
	}
	u := p.profileUser(ctx, t, prof)
	if es := user.ValidatePassword(pw); len(es) > 0 {
		p.logf(ctx, slog.LevelError, t, "user import: the source accepted a password that does not meet the password policy "+
			"(at least 8 characters); the user is not created: set one through the admin API", nil)
		return user.User{}, fmt.Errorf("%w: the password does not meet the policy", authn.ErrProvisioningFailed)
	}
	created, err := p.admin.CreateUser(ctx, t, u, pw)
	switch {
	case err == nil:
		p.provisioned(ctx, t, created)
		return created, nil
	case errors.Is(err, ErrConflict):
		return p.existing(ctx, t, u.Username, err)
	}
	return user.User{}, p.failed(ctx, t, err)
}

// profileUser is the user to create: the username as nines stores it, and the profile's
// optional fields when they pass nines' rules (one that does not is left out and
// logged by name, never by value: the account matters more than a malformed address).
func (p *Provisioner) profileUser(ctx context.Context, t tenant.Tenant, prof Profile) user.User {
	u := user.User{Username: prof.Username, Email: prof.Email, GivenName: prof.GivenName, FamilyName: prof.FamilyName,
		Status: user.StatusActive}
	u.Normalize()
	for _, e := range u.Validate() {
		switch e.Field {
		case "email":
			u.Email = ""
		case "given_name":
			u.GivenName = ""
		case "family_name":
			u.FamilyName = ""
		default:
			continue
		}
		p.log.WarnContext(ctx, "user import: a field of the source's profile is not valid and is left out",
			"tenant", t.ID, "field", e.Field, "request_id", requestid.FromContext(ctx))
	}
	return u
}

// existing handles a 409: the user was created meanwhile, most likely by another sign-in
// of the same person. It is fetched with the same credential and accepted only when it
// is that fresh account (see Config.ConflictWindow).
func (p *Provisioner) existing(ctx context.Context, t tenant.Tenant, username string, conflict error) (user.User, error) {
	u, hasPassword, err := p.admin.UserByUsername(ctx, t, username)
	switch {
	case errors.Is(err, errNoUser):
		p.logf(ctx, slog.LevelError, t, "user import: the admin API refused the new user as a duplicate, but no user has its "+
			"username: its e-mail address belongs to another user; resolve it through the admin API", conflict)
		return user.User{}, fmt.Errorf("%w: %w", authn.ErrProvisioningFailed, conflict)
	case err != nil:
		return user.User{}, p.failed(ctx, t, err)
	}
	age := p.now().Sub(u.CreatedAt)
	if u.Status != user.StatusActive || !hasPassword || u.Version != 1 || age > p.window || age < -p.window {
		p.log.WarnContext(ctx, "user import: the user exists already and is not the account another sign-in just created "+
			"(a replica probably lags); that sign-in failed, the next one checks the password nines holds",
			"tenant", t.ID, "user", u.ID, "request_id", requestid.FromContext(ctx))
		return user.User{}, fmt.Errorf("%w: the user exists already", authn.ErrProvisioningFailed)
	}
	p.log.InfoContext(ctx, "user import: the user was created by a concurrent sign-in", "tenant", t.ID, "user", u.ID,
		"request_id", requestid.FromContext(ctx))
	return u, nil
}

// failed logs an admin API failure with what an operator needs to fix it and returns
// it as authn.ErrProvisioningFailed.
func (p *Provisioner) failed(ctx context.Context, t tenant.Tenant, err error) error {
	switch {
	case errors.Is(err, ErrCredential) && p.noToken:
		p.logf(ctx, slog.LevelError, t, "user import: NINES_PROVISIONING_TOKEN is not set, so the login tier cannot create "+
			"the user the import source vouched for; set it to a provision-scoped admin API token", nil)
	case errors.Is(err, ErrCredential):
		p.logf(ctx, slog.LevelError, t, "user import: the admin API refused NINES_PROVISIONING_TOKEN; it must be a valid "+
			"admin API token of scope provision (POST /admin/v1/tokens {\"scope\":\"provision\"})", err)
	case errors.Is(err, ErrAdminUnavailable):
		p.logf(ctx, slog.LevelError, t, "user import: the admin API is unavailable (down, read-only or slow); that sign-in failed", err)
	default:
		p.logf(ctx, slog.LevelError, t, "user import: the admin API refused the new user", err)
	}
	return fmt.Errorf("%w: %w", authn.ErrProvisioningFailed, err)
}

// provisioned records the user.provisioned audit event. The user exists already, so a
// failure is logged and the sign-in goes on.
func (p *Provisioner) provisioned(ctx context.Context, t tenant.Tenant, u user.User) {
	p.log.InfoContext(ctx, "user import: user created", "tenant", t.ID, "user", u.ID, "request_id", requestid.FromContext(ctx))
	if p.events == nil {
		return
	}
	c, err := command.NewAuditEvent(t.ID, p.now(), command.AuditEvent{Type: EventType, Actor: "login:user_import",
		Subject: "user:" + u.ID.String(), Details: map[string]string{"source": "user_import"}})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = p.events.Publish(ctx, c)
	}
	if err != nil {
		p.log.WarnContext(ctx, "user import: the user.provisioned event was not recorded", "tenant", t.ID, "user", u.ID, "err", err)
	}
}

func (p *Provisioner) logf(ctx context.Context, level slog.Level, t tenant.Tenant, msg string, err error) {
	attrs := []any{"tenant", t.ID, "request_id", requestid.FromContext(ctx)}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	p.log.Log(ctx, level, msg, attrs...)
}

var _ authn.Importer = (*Provisioner)(nil)
