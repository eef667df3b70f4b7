package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/user"
)

var (
	// ErrRejected: the import source says the credentials are wrong (401, 403, 404), or
	// vouched for another username than the one asked about.
	ErrRejected = errors.New("provision: the import source rejected the credentials")
	// ErrSourceUnavailable: the import source gave no usable answer.
	ErrSourceUnavailable = errors.New("provision: the import source is unavailable")
)

// MaxBody bounds every response body this package reads (import source and admin API).
const MaxBody = 64 << 10

// DefaultSourceTimeout bounds one call to an import source, body included.
const DefaultSourceTimeout = 5 * time.Second

// userAgent identifies nines to the import source and the admin API.
const userAgent = "nines-login (just-in-time provisioning)"

// Profile is what an import source says about a user it vouched for. Email and the
// names may be empty.
type Profile struct {
	Username   string `json:"username"`
	Email      string `json:"email"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
}

// LogValue keeps personal data out of logs.
func (Profile) LogValue() slog.Value { return slog.StringValue("profile:[redacted]") }

// SourceClient asks tenants' import sources (legacy password-check endpoints) about
// credentials. The zero value is not usable: HTTP must be set (NewHTTPClient).
type SourceClient struct {
	HTTP    *http.Client
	Timeout time.Duration // 0: DefaultSourceTimeout
}

type sourceRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Check POSTs login and pw to the source at rawURL and returns the profile it vouches
// for. Errors: ErrRejected, or ErrSourceUnavailable wrapping the cause (which never
// holds login or pw).
func (c SourceClient) Check(ctx context.Context, rawURL, login, pw string) (Profile, error) {
	if why := tenant.ValidImportURL(rawURL); why != "" {
		return Profile{}, fmt.Errorf("%w: the tenant's import URL %s", ErrSourceUnavailable, why)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultSourceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(sourceRequest{Username: login, Password: pw})
	if err != nil {
		return Profile{}, fmt.Errorf("%w: encoding the request: %w", ErrSourceUnavailable, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Profile{}, fmt.Errorf("%w: %w", ErrSourceUnavailable, transportErr(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Profile{}, fmt.Errorf("%w: %w", ErrSourceUnavailable, transportErr(err))
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return Profile{}, fmt.Errorf("%w: it answered %d", ErrRejected, resp.StatusCode)
	default:
		return Profile{}, fmt.Errorf("%w: it answered %d", ErrSourceUnavailable, resp.StatusCode)
	}
	b, err := readBounded(resp.Body)
	if err != nil {
		return Profile{}, fmt.Errorf("%w: reading its answer: %w", ErrSourceUnavailable, err)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return Profile{}, fmt.Errorf("%w: its answer is not a JSON profile", ErrSourceUnavailable)
	}
	if normalized(p.Username) != normalized(login) {
		return Profile{}, fmt.Errorf("%w: it vouched for another username", ErrRejected)
	}
	return p, nil
}

// normalized is a username as nines stores it.
func normalized(name string) string {
	u := user.User{Username: name}
	u.Normalize()
	return u.Username
}

// readBounded reads at most MaxBody bytes of r; more is an error.
func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	switch {
	case err != nil:
		return nil, transportErr(err)
	case len(b) > MaxBody:
		return nil, fmt.Errorf("the body is larger than %d bytes", MaxBody)
	}
	return b, nil
}

// transportErr is an HTTP client error without its URL (a query may carry a username):
// the operation's own error, with a time-out named as such.
func transportErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("no answer in time")
		}
		return ue.Err
	}
	return err
}

// NewHTTPClient is the client both calls use: no redirect is followed (a redirect is an
// answer, and an unexpected one), no cookies, connections reused.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.ResponseHeaderTimeout = 30 * time.Second // the per-call contexts are shorter; a backstop
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
