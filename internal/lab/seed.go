package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ninesid/nines/internal/apply"
)

// ClientID is the OIDC client `lab up` registers for the load.
const ClientID = "lab-load"

// seed creates the tenant, the OIDC client and the users with `nines apply`'s code,
// through the primary region's edge (the admin API as an operator reaches it). The
// client is confidential with the redirect URI http://127.0.0.1:<port>/callback on a
// port the lab picked and never serves: a load generator stops at the redirect and
// reads the code from its Location header.
func (s *supervisor) seed(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, seedTimeout+time.Duration(s.topo.Users)*seedPerUser)
	defer cancel()
	users := make([]User, s.topo.Users)
	type userSpec struct {
		Username      string `json:"username"`
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Password      string `json:"password"`
	}
	specs := make([]userSpec, len(users))
	width := len(fmt.Sprint(len(users)))
	for i := range users {
		users[i] = User{Username: fmt.Sprintf("user-%0*d", width, i+1), Password: token()[:24]}
		specs[i] = userSpec{Username: users[i].Username, Email: users[i].Username + "@lab.example",
			EmailVerified: true, Password: users[i].Password}
	}
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", s.p.callback)
	file := map[string]any{"tenants": []any{map[string]any{
		"slug":         s.topo.Tenant,
		"display_name": "nines lab",
		"users":        specs,
		"applications": []any{map[string]any{
			"client_id":     ClientID,
			"client_name":   "nines lab load",
			"type":          "confidential",
			"redirect_uris": []string{redirect},
			"grant_types":   []string{"authorization_code", "refresh_token", "client_credentials"},
		}},
	}}}
	b, err := yaml.Marshal(file)
	if err != nil {
		return fmt.Errorf("lab: apply file: %w", err)
	}
	path, secrets := filepath.Join(s.opts.Dir, "apply.yaml"), filepath.Join(s.opts.Dir, "apply-secrets.jsonl")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	logf, err := os.OpenFile(s.p.logPath("apply"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer logf.Close()
	st := s.state()
	err = apply.Run(ctx, apply.Options{File: path, Server: st.AdminURL, Token: st.AdminToken, SecretsFile: secrets,
		HTTPClient: &http.Client{Timeout: apply.DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, logf, logf)
	if err != nil {
		return fmt.Errorf("lab: nines apply: %w (see %s)", err, s.p.logPath("apply"))
	}
	secret, err := clientSecret(secrets, s.topo.Tenant, ClientID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.st.Client = Client{ID: ClientID, Secret: secret, RedirectURI: redirect}
	s.st.Users = users
	s.mu.Unlock()
	return nil
}

// clientSecret reads a client's secret from an apply secrets file.
func clientSecret(path, tenant, clientID string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var line struct {
			Tenant       string `json:"tenant"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Tenant == tenant && line.ClientID == clientID && line.ClientSecret != "" {
			return line.ClientSecret, nil
		}
	}
	return "", fmt.Errorf("lab: no secret for %s/%s in %s", tenant, clientID, path)
}
