package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestSignInFactsArriveThroughTheWorker: on the embedded default the login surface's
// writes travel as commands through the JetStream stream and are applied by the
// in-process worker — the user's last sign-in time is set and a user.signed_in event is
// queryable in the admin API, though no login code wrote the store.
func TestSignInFactsArriveThroughTheWorker(t *testing.T) {
	r := startSignin(t)
	rp := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(rp.Close)
	secret := applyTenant(t, r.base, rp.URL)

	issuer := r.base + "/t/acme"
	ctx := gooidc.ClientContext(t.Context(), &http.Client{Timeout: 30 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	f := &signinFlow{ctx: ctx, issuer: issuer, rp: rp.URL, verifier: provider.Verifier(&gooidc.Config{ClientID: "web"}),
		conf: oauth2.Config{ClientID: "web", ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: rp.URL + "/callback", Scopes: []string{gooidc.ScopeOpenID}}}
	b := newSigninBrowser(t, rp.URL)
	// One wrong password first: refused, and audited as user.sign_in_failed.
	wrong := f.newRequest()
	if pg := b.submit(b.get(f.conf.AuthCodeURL(wrong.state, wrong.opts()...)),
		url.Values{"login": {"alice"}, "password": {"not her password"}}); pg.status == http.StatusSeeOther {
		t.Fatalf("a wrong password was accepted: %d", pg.status)
	}
	req := f.newRequest()
	pg := b.submit(b.get(f.conf.AuthCodeURL(req.state, req.opts()...)),
		url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}})
	_, idt := f.redeem(t, req, pg)

	// The worker applies asynchronously: poll, bounded.
	var user struct {
		LastLoginAt *time.Time `json:"last_login_at"`
	}
	var events struct {
		Items []struct {
			Type   string `json:"type"`
			UserID string `json:"user_id"`
		} `json:"items"`
	}
	for i := 0; ; i++ {
		code, body := get(t, r.base+"/admin/v1/tenants/acme/users/"+idt.Subject, signinAdminToken)
		if code != http.StatusOK || json.Unmarshal(body, &user) != nil {
			t.Fatalf("GET user: %d %s", code, body)
		}
		code, body = get(t, r.base+"/admin/v1/tenants/acme/events?type=user.signed_in", signinAdminToken)
		if code != http.StatusOK || json.Unmarshal(body, &events) != nil {
			t.Fatalf("GET events: %d %s", code, body)
		}
		if user.LastLoginAt != nil && len(events.Items) == 1 {
			break
		}
		if i == 200 {
			t.Fatalf("after 10 s: last_login_at %v, events %+v", user.LastLoginAt, events.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if events.Items[0].UserID != idt.Subject {
		t.Errorf("event for user %q, want %q", events.Items[0].UserID, idt.Subject)
	}
	code, body := get(t, r.base+"/admin/v1/tenants/acme/events?type=user.sign_in_failed", signinAdminToken)
	var failed struct {
		Items []struct {
			UserID string          `json:"user_id"`
			Data   json.RawMessage `json:"data"`
		} `json:"items"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &failed) != nil || len(failed.Items) != 1 ||
		failed.Items[0].UserID != idt.Subject || !strings.Contains(string(failed.Items[0].Data), `"source_digest"`) ||
		strings.Contains(string(failed.Items[0].Data), "127.0.0.1") {
		t.Errorf("sign_in_failed events: %d %s; want one for alice with a source digest, no address", code, body)
	}
}
