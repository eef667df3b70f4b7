package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

var (
	// ErrAdminUnavailable: the admin API did not answer, answered 408, 429 or 5xx (503
	// in read-only mode), or answered something unreadable.
	ErrAdminUnavailable = errors.New("provision: the admin API is unavailable")
	// ErrCredential: the admin API refused the provisioning token (401 or 403), or
	// there is none (NINES_PROVISIONING_TOKEN unset).
	ErrCredential = errors.New("provision: the admin API refused the provisioning token (NINES_PROVISIONING_TOKEN)")
	// ErrConflict: a unique field of the new user is taken (409).
	ErrConflict = errors.New("provision: the admin API reports a conflict")
	// ErrRefused: the admin API refused the request for good (400, 404, 422 and other
	// 4xx): retrying the same request cannot help.
	ErrRefused = errors.New("provision: the admin API refused the request")
	// errNoUser: a lookup by username found nobody.
	errNoUser = errors.New("provision: no such user")
)

// DefaultAdminTimeout bounds one call to the admin API; a create includes an argon2id
// hash, which may queue for a slot.
const DefaultAdminTimeout = 10 * time.Second

// AdminClient calls the admin API's user routes at BaseURL (NINES_PUBLIC_URL) with a
// provision-scoped token, as any outside client would.
type AdminClient struct {
	BaseURL string // without a trailing slash
	Token   string // "": every call is ErrCredential, without a request
	HTTP    *http.Client
	Timeout time.Duration // 0: DefaultAdminTimeout
}

// userCreate is the body of POST /admin/v1/tenants/{tenant}/users.
type userCreate struct {
	Username   string `json:"username"`
	Email      string `json:"email,omitempty"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	Status     string `json:"status"`
	Password   string `json:"password"`
}

// adminUser is the admin API's user, the fields this package reads.
type adminUser struct {
	ID            uuid.UUID   `json:"id"`
	Username      string      `json:"username"`
	Email         string      `json:"email"`
	EmailVerified bool        `json:"email_verified"`
	GivenName     string      `json:"given_name"`
	FamilyName    string      `json:"family_name"`
	Status        user.Status `json:"status"`
	HasPassword   bool        `json:"has_password"`
	Version       int64       `json:"version"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

func (a adminUser) user(tenantID uuid.UUID) user.User {
	return user.User{ID: a.ID, TenantID: tenantID, Username: a.Username, Email: a.Email, EmailVerified: a.EmailVerified,
		GivenName: a.GivenName, FamilyName: a.FamilyName, Status: a.Status, Version: a.Version,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// problem is the part of an RFC 9457 answer worth logging: never detail, which may echo.
type problem struct {
	Type   string `json:"type"`
	Errors []struct {
		Field string `json:"field"`
	} `json:"errors"`
}

func (p problem) String() string {
	fields := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	s := p.Type
	if len(fields) > 0 {
		s += " (fields " + strings.Join(fields, ", ") + ")"
	}
	return s
}

// CreateUser creates u (Username, Email, GivenName, FamilyName) with password pw in t
// and returns the user of the answer, with TenantID t.ID. Errors: ErrCredential,
// ErrConflict, ErrRefused, ErrAdminUnavailable, each with the status and problem type.
func (c AdminClient) CreateUser(ctx context.Context, t tenant.Tenant, u user.User, pw string) (user.User, error) {
	body, err := json.Marshal(userCreate{Username: u.Username, Email: u.Email, GivenName: u.GivenName,
		FamilyName: u.FamilyName, Status: string(user.StatusActive), Password: pw})
	if err != nil {
		return user.User{}, fmt.Errorf("%w: encoding the request: %w", ErrRefused, err)
	}
	var out adminUser
	if err := c.call(ctx, http.MethodPost, c.usersURL(t, ""), body, http.StatusCreated, &out); err != nil {
		return user.User{}, err
	}
	if err := checkAnswer(out, u.Username); err != nil {
		return user.User{}, err
	}
	return out.user(t.ID), nil
}

// UserByUsername finds the user of t named username. It returns the user and whether it
// has a password; errNoUser when there is none.
func (c AdminClient) UserByUsername(ctx context.Context, t tenant.Tenant, username string) (user.User, bool, error) {
	var list struct {
		Items []adminUser `json:"items"`
	}
	if err := c.call(ctx, http.MethodGet, c.usersURL(t, "?username="+url.QueryEscape(username)), nil, http.StatusOK, &list); err != nil {
		return user.User{}, false, err
	}
	switch len(list.Items) {
	case 0:
		return user.User{}, false, errNoUser
	case 1:
	default:
		return user.User{}, false, fmt.Errorf("%w: %d users for one username", ErrAdminUnavailable, len(list.Items))
	}
	if err := checkAnswer(list.Items[0], username); err != nil {
		return user.User{}, false, err
	}
	return list.Items[0].user(t.ID), list.Items[0].HasPassword, nil
}

// checkAnswer holds the admin API's user to what was asked for.
func checkAnswer(a adminUser, username string) error {
	if a.ID == uuid.Nil || !a.Status.Valid() || normalized(a.Username) != normalized(username) {
		return fmt.Errorf("%w: its user answer lacks an ID or a status, or names another user", ErrAdminUnavailable)
	}
	return nil
}

func (c AdminClient) usersURL(t tenant.Tenant, query string) string {
	return strings.TrimRight(c.BaseURL, "/") + "/admin/v1/tenants/" + url.PathEscape(t.Slug) + "/users" + query
}

// call sends one request and decodes an answer of status want into out.
func (c AdminClient) call(ctx context.Context, method, target string, body []byte, want int, out any) error {
	if c.Token == "" {
		return fmt.Errorf("%w: it is not set", ErrCredential)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultAdminTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, transportErr(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if id := requestid.FromContext(ctx); id != "" {
		req.Header.Set(requestid.Header, id)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAdminUnavailable, transportErr(err))
	}
	defer resp.Body.Close()
	b, rerr := readBounded(resp.Body)
	if resp.StatusCode == want {
		if rerr != nil {
			return fmt.Errorf("%w: reading its answer: %w", ErrAdminUnavailable, rerr)
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%w: its %d answer does not parse", ErrAdminUnavailable, resp.StatusCode)
		}
		return nil
	}
	var p problem
	_ = json.Unmarshal(b, &p) // best effort: only for the log
	var kind error
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		kind = ErrCredential
	case s == http.StatusConflict:
		kind = ErrConflict
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		kind = ErrAdminUnavailable
	case s >= 300 && s < 400:
		kind = ErrAdminUnavailable // a redirect is not followed: NINES_PUBLIC_URL points at a wrong place
	default:
		kind = ErrRefused
	}
	return fmt.Errorf("%w: %s answered %d %s", kind, method, resp.StatusCode, p)
}
