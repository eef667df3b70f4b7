package admin

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/apitoken"
	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/keys"
	"github.com/ninesid/nines/internal/readonly"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

// Store is the read-write entity store the admin API needs (the primary:
// *sqlstore.Store). Every tenant-owned call names the tenant explicitly.
type Store interface {
	CreateTenantWithKeys(ctx context.Context, t tenant.Tenant, ks []keys.Key) (tenant.Tenant, error)
	Tenant(ctx context.Context, id uuid.UUID) (tenant.Tenant, error)
	TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error)
	ListTenants(ctx context.Context, opts store.ListOptions) (store.Page[tenant.Tenant], error)
	UpdateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error)
	DeleteTenant(ctx context.Context, id uuid.UUID) error

	SigningKeys(ctx context.Context, tenantID uuid.UUID) ([]keys.Key, error)
	RotateSigningKeys(ctx context.Context, tenantID uuid.UUID, plan func(current []keys.Key) ([]keys.Key, error)) ([]keys.Key, error)

	CreateUser(ctx context.Context, tenantID uuid.UUID, u user.User) (user.User, error)
	User(ctx context.Context, tenantID, id uuid.UUID) (user.User, error)
	UserByUsername(ctx context.Context, tenantID uuid.UUID, username string) (user.User, error)
	UserByEmail(ctx context.Context, tenantID uuid.UUID, email string) (user.User, error)
	ListUsers(ctx context.Context, tenantID uuid.UUID, opts store.ListOptions) (store.Page[user.User], error)
	UpdateUser(ctx context.Context, tenantID uuid.UUID, u user.User) (user.User, error)
	DeleteUser(ctx context.Context, tenantID, id uuid.UUID) error

	CreateGroup(ctx context.Context, tenantID uuid.UUID, g user.Group) (user.Group, error)
	Group(ctx context.Context, tenantID, id uuid.UUID) (user.Group, error)
	GroupByName(ctx context.Context, tenantID uuid.UUID, name string) (user.Group, error)
	ListGroups(ctx context.Context, tenantID uuid.UUID, opts store.ListOptions) (store.Page[user.Group], error)
	UpdateGroup(ctx context.Context, tenantID uuid.UUID, g user.Group) (user.Group, error)
	DeleteGroup(ctx context.Context, tenantID, id uuid.UUID) error
	AddMember(ctx context.Context, tenantID, groupID, userID uuid.UUID) error
	RemoveMember(ctx context.Context, tenantID, groupID, userID uuid.UUID) error
	ListMembers(ctx context.Context, tenantID, groupID uuid.UUID, opts store.ListOptions) (store.Page[user.User], error)

	CreateApplication(ctx context.Context, tenantID uuid.UUID, a client.Application) (client.Application, error)
	Application(ctx context.Context, tenantID, id uuid.UUID) (client.Application, error)
	ApplicationByClientID(ctx context.Context, tenantID uuid.UUID, clientID string) (client.Application, error)
	ListApplications(ctx context.Context, tenantID uuid.UUID, opts store.ListOptions) (store.Page[client.Application], error)
	UpdateApplication(ctx context.Context, tenantID uuid.UUID, a client.Application) (client.Application, error)
	DeleteApplication(ctx context.Context, tenantID, id uuid.UUID) error

	CreateAPIToken(ctx context.Context, t apitoken.Token) (apitoken.Token, error)
	APITokenByDigest(ctx context.Context, digest []byte) (apitoken.Token, error)
	ListAPITokens(ctx context.Context, opts store.ListOptions) (store.Page[apitoken.Token], error)
	DeleteAPIToken(ctx context.Context, id uuid.UUID) error

	ListEvents(ctx context.Context, tenantID uuid.UUID, f event.Filter, opts store.ListOptions) (store.Page[event.Event], error)
}

// PasswordHasher hashes new end-user passwords (*password.Hasher). It returns
// password.ErrBusy when hashing is saturated; the API answers 503 with Retry-After.
type PasswordHasher interface {
	Hash(ctx context.Context, pw string) (string, error)
}

// DefaultMaxBodyBytes bounds a request body when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Config configures an API. Store, Passwords and KEK are required.
type Config struct {
	Store     Store
	Passwords PasswordHasher
	// KEK is the key-encryption key (keys.KEKSize bytes) that seals the signing keys
	// of new tenants and of rotations. Without a valid one, creating a tenant and
	// rotating keys fail with 500 (and an error in the log); everything else works.
	KEK []byte
	// PublicURL is the externally visible base URL; a tenant's issuer is
	// PublicURL + "/t/" + slug.
	PublicURL string
	// DeadLetters is the worker's dead-letter queue; nil: the dead-letter routes answer
	// 503 (a process without a broker).
	DeadLetters DeadLetters
	// ReadOnly is the read-only mode (*readonly.Mode); nil: a mode of this process
	// alone, switched only through the API.
	ReadOnly ReadOnlyMode
	// Changes tells the login tier at once about the writes that change what it
	// caches (*changes.Publisher; today a key rotation). nil: none are sent, and the
	// login tier's cache TTL alone bounds how long it serves the old state.
	Changes ChangePublisher
	// Replica returns a store whose reads run on a healthy replica, or nil when there is
	// none; in read-only mode the admin reads go there. nil (the embedded SQLite, or no
	// replicas): reads stay on Store.
	Replica      func() Store
	Logger       *slog.Logger     // nil: slog.Default()
	MaxBodyBytes int64            // 0: DefaultMaxBodyBytes
	Now          func() time.Time // nil: time.Now
}

// API serves the admin REST API. Create it with New and register it with Mount.
type API struct {
	store     Store
	passwords PasswordHasher
	kek       []byte
	publicURL string
	log       *slog.Logger
	maxBody   int64
	now       func() time.Time

	deadLetters DeadLetters
	readOnly    ReadOnlyMode
	replica     func() Store
	changes     ChangePublisher
}

// New returns an API for cfg, filling defaults.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, passwords: cfg.Passwords, kek: bytes.Clone(cfg.KEK),
		publicURL: strings.TrimRight(cfg.PublicURL, "/"), log: cfg.Logger, maxBody: cfg.MaxBodyBytes, now: cfg.Now,
		deadLetters: cfg.DeadLetters, readOnly: cfg.ReadOnly, replica: cfg.Replica, changes: cfg.Changes}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.readOnly == nil {
		a.readOnly = readonly.New(readonly.Config{Logger: a.log, Now: a.now})
	}
	if err := keys.ValidateKEK(a.kek); err != nil {
		a.log.Error("admin: no valid key-encryption key: creating tenants and rotating signing keys will fail",
			"error", err.Error())
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// Prefix is the path every admin route lives under.
const Prefix = "/admin/v1/"

// Mount registers every admin route on mux, plus handlers that answer unknown paths
// (404) and wrong methods (405 with Allow) under Prefix with problem+json rather than the
// mux's plain text.
func (a *API) Mount(mux *http.ServeMux) {
	allow := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.Handle(rt.Method+" "+rt.Path, a.handler(rt))
		if _, seen := allow[rt.Path]; !seen {
			paths = append(paths, rt.Path)
		}
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
		if rt.Method == http.MethodGet {
			allow[rt.Path] = append(allow[rt.Path], http.MethodHead)
		}
	}
	for _, p := range paths {
		mux.Handle(p, a.methodNotAllowed(allow[p]))
	}
	mux.Handle(Prefix, http.HandlerFunc(a.notFound))
	mux.Handle(strings.TrimSuffix(Prefix, "/"), http.HandlerFunc(a.notFound))
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	a.writeProblem(w, r, errNoRoute)
}

func (a *API) methodNotAllowed(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		a.writeProblem(w, r, &problem{Type: typeMethod, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: "this resource supports " + allow})
	})
}
