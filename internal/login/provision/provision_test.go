package provision

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/tenant"
	"github.com/ninesid/nines/internal/testenv"
	"github.com/ninesid/nines/internal/user"
)

// events is a fake EventPublisher.
type events struct {
	mu   sync.Mutex
	cmds []command.Command
	err  error
}

func (e *events) Publish(_ context.Context, c command.Command) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cmds = append(e.cmds, c)
	return e.err
}

type harness struct {
	legacy *legacy
	admin  *fakeAdmin
	events *events
	logs   *testenv.Buffer
	p      *Provisioner
}

func newHarness(t *testing.T, token string, mod ...func(*Config)) *harness {
	t.Helper()
	h := &harness{legacy: newLegacy(t, vouching("newbie")), admin: newFakeAdmin(t), events: &events{}, logs: &testenv.Buffer{}}
	cfg := Config{PublicURL: h.admin.srv.URL, Token: token, Events: h.events, SourceTimeout: 2 * time.Second,
		AdminTimeout: 2 * time.Second, Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mod {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) tenant() tenant.Tenant {
	tn := acme
	tn.UserImport.URL = h.legacy.srv.URL + "/check"
	return tn
}

// checkLogs fails when the log holds a password, a name, an e-mail address or the token.
func (h *harness) checkLogs(t *testing.T) {
	t.Helper()
	out := strings.ToLower(h.logs.String())
	for _, secret := range []string{legacyPW, "newbie", "newbie@example.com", strings.ToLower(provToken), "bie\""} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
}

func TestImportCreatesTheUser(t *testing.T) {
	h := newHarness(t, provToken)
	id := uuid.Must(uuid.NewV7())
	h.admin.create = created(id)
	u, err := h.p.Import(t.Context(), h.tenant(), typedName, legacyPW)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if u.ID != id || u.TenantID != acme.ID || u.Username != "newbie" || u.Status != user.StatusActive {
		t.Errorf("user %+v", u)
	}
	reqs := h.admin.requests()
	if len(reqs) != 1 || reqs[0].body["email"] != "newbie@example.com" || reqs[0].body["password"] != legacyPW {
		t.Fatalf("admin requests %+v", reqs)
	}
	if len(h.events.cmds) != 1 {
		t.Fatalf("%d events, want 1", len(h.events.cmds))
	}
	c := h.events.cmds[0]
	pl, err := c.Payload()
	ae, ok := pl.(command.AuditEvent)
	if err != nil || !ok || ae.Type != EventType || ae.Subject != "user:"+id.String() || c.TenantID != acme.ID {
		t.Errorf("event %+v payload %+v (%v)", c, pl, err)
	}
	if !strings.Contains(h.logs.String(), id.String()) {
		t.Error("the creation is not logged with the user ID")
	}
	h.checkLogs(t)
}

func TestImportSourceVerdicts(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		h := newHarness(t, provToken)
		h.admin.create = created(uuid.New())
		_, err := h.p.Import(t.Context(), h.tenant(), typedName, "a wrong guess")
		if !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatalf("err = %v, want invalid credentials", err)
		}
		if n := len(h.admin.requests()); n != 0 {
			t.Errorf("%d admin requests after a rejection", n)
		}
		h.checkLogs(t)
	})
	t.Run("source down", func(t *testing.T) {
		h := newHarness(t, provToken)
		h.admin.create = created(uuid.New())
		tn := h.tenant()
		h.legacy.srv.Close()
		_, err := h.p.Import(t.Context(), tn, typedName, legacyPW)
		if !errors.Is(err, authn.ErrImportUnavailable) {
			t.Fatalf("err = %v, want import unavailable", err)
		}
		if n := len(h.admin.requests()); n != 0 {
			t.Errorf("%d admin requests with the source down", n)
		}
		if !strings.Contains(h.logs.String(), "import source is unavailable") {
			t.Errorf("no log line for the outage:\n%s", h.logs.String())
		}
		h.checkLogs(t)
	})
}

func TestImportAdminFailures(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		create  func(map[string]any) (int, string)
		wantLog string
	}{
		{"read-only", provToken, fixed(503, `{"type":"urn:nines:problem:read-only","status":503}`), "admin API is unavailable"},
		{"internal error", provToken, fixed(500, ""), "admin API is unavailable"},
		{"wrong token", provToken, fixed(401, `{"type":"urn:nines:problem:unauthorized"}`), "refused NINES_PROVISIONING_TOKEN"},
		{"token of another scope", provToken, fixed(403, `{"type":"urn:nines:problem:forbidden"}`), "refused NINES_PROVISIONING_TOKEN"},
		{"no token", "", created(uuid.New()), "NINES_PROVISIONING_TOKEN is not set"},
		{"refused", provToken, fixed(422, `{"type":"urn:nines:problem:validation","errors":[{"field":"username"}]}`), "refused the new user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.token)
			h.admin.create = tt.create
			_, err := h.p.Import(t.Context(), h.tenant(), typedName, legacyPW)
			if !errors.Is(err, authn.ErrProvisioningFailed) {
				t.Fatalf("err = %v, want provisioning failed", err)
			}
			if !strings.Contains(h.logs.String(), tt.wantLog) || !strings.Contains(h.logs.String(), `"level":"ERROR"`) {
				t.Errorf("log lacks an error %q:\n%s", tt.wantLog, h.logs.String())
			}
			if len(h.events.cmds) != 0 {
				t.Error("an event was published for a user that was not created")
			}
			h.checkLogs(t)
		})
	}
}

func TestImportConflict(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	conflict := fixed(409, `{"type":"urn:nines:problem:conflict","errors":[{"field":"username"}]}`)
	id := uuid.New()
	tests := []struct {
		name    string
		find    func(string) (int, string)
		wantErr error
	}{
		{"created by a concurrent sign-in", func(n string) (int, string) {
			return 200, `{"items":[` + userBody(id, n, 1, now.Add(-2*time.Second), true) + `]}`
		}, nil},
		{"an older account", func(n string) (int, string) {
			return 200, `{"items":[` + userBody(id, n, 1, now.Add(-time.Hour), true) + `]}`
		}, authn.ErrProvisioningFailed},
		{"changed since", func(n string) (int, string) {
			return 200, `{"items":[` + userBody(id, n, 2, now.Add(-2*time.Second), true) + `]}`
		}, authn.ErrProvisioningFailed},
		{"without a password", func(n string) (int, string) {
			return 200, `{"items":[` + userBody(id, n, 1, now.Add(-2*time.Second), false) + `]}`
		}, authn.ErrProvisioningFailed},
		{"the e-mail address is taken", func(string) (int, string) { return 200, `{"items":[]}` }, authn.ErrProvisioningFailed},
		{"lookup refused", func(string) (int, string) { return 503, `{"type":"urn:nines:problem:read-only"}` }, authn.ErrProvisioningFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, provToken, func(c *Config) { c.Now = func() time.Time { return now } })
			h.admin.create, h.admin.find = conflict, tt.find
			u, err := h.p.Import(t.Context(), h.tenant(), typedName, legacyPW)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (u.ID != id || u.TenantID != acme.ID) {
				t.Errorf("user %+v, want %v of the tenant", u, id)
			}
			reqs := h.admin.requests()
			if len(reqs) != 2 || reqs[1].method != "GET" || reqs[1].auth != "Bearer "+provToken {
				t.Errorf("admin requests %+v, want the create and one lookup with the same credential", reqs)
			}
			h.checkLogs(t)
		})
	}
}

func TestImportProfileRules(t *testing.T) {
	t.Run("invalid optional fields are left out", func(t *testing.T) {
		h := newHarness(t, provToken)
		h.legacy = newLegacy(t, status(200, `{"username":"NEWBIE","email":"not an address","given_name":"ok","family_name":"bad\u0000"}`))
		h.admin.create = created(uuid.New())
		if _, err := h.p.Import(t.Context(), h.tenant(), typedName, legacyPW); err != nil {
			t.Fatalf("Import: %v", err)
		}
		body := h.admin.requests()[0].body
		if body["username"] != "newbie" || body["email"] != nil || body["given_name"] != "ok" || body["family_name"] != nil {
			t.Errorf("create body %v: want the username normalised and the invalid fields left out", body)
		}
		if out := h.logs.String(); !strings.Contains(out, `"field":"email"`) || !strings.Contains(out, `"field":"family_name"`) {
			t.Errorf("the dropped fields are not logged:\n%s", out)
		}
	})
	t.Run("short password", func(t *testing.T) {
		h := newHarness(t, provToken)
		h.legacy = newLegacy(t, func(w http.ResponseWriter, _ *http.Request, in sourceRequest) {
			_, _ = w.Write([]byte(`{"username":"newbie"}`))
		})
		h.admin.create = created(uuid.New())
		if _, err := h.p.Import(t.Context(), h.tenant(), typedName, "short"); !errors.Is(err, authn.ErrProvisioningFailed) {
			t.Fatalf("err = %v, want provisioning failed", err)
		}
		if n := len(h.admin.requests()); n != 0 {
			t.Errorf("%d admin requests for a password the policy refuses", n)
		}
	})
}

// TestImportConcurrencyBound: with every slot taken, an import waits a bounded time and
// fails as unavailable instead of piling up.
func TestImportConcurrencyBound(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := newHarness(t, provToken, func(c *Config) { c.MaxConcurrent = 1; c.SourceTimeout = 5 * time.Second })
	h.legacy = newLegacy(t, func(w http.ResponseWriter, r *http.Request, _ sourceRequest) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	tn := h.tenant()
	done := make(chan error, 1)
	go func() { _, err := h.p.Import(context.Background(), tn, typedName, legacyPW); done <- err }()
	<-entered
	if _, err := h.p.Import(t.Context(), tn, typedName, legacyPW); !errors.Is(err, authn.ErrImportUnavailable) {
		t.Errorf("second import with no slot: err = %v, want import unavailable", err)
	}
	close(release)
	if err := <-done; !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Errorf("first import: err = %v, want the source's rejection", err)
	}
	// The slot is free again.
	h.legacy = newLegacy(t, vouching("newbie"))
	h.admin.create = created(uuid.New())
	if _, err := h.p.Import(t.Context(), h.tenant(), typedName, legacyPW); err != nil {
		t.Errorf("import after the slot was released: %v", err)
	}
}

func TestNewNeedsAPublicURL(t *testing.T) {
	for _, u := range []string{"", "/relative", "ftp://x", "http://"} {
		if _, err := New(Config{PublicURL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
