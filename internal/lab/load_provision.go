package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ProvisionConfig says what Provision makes on a nines deployment.
type ProvisionConfig struct {
	AdminURL   string // the admin API's base URL
	AdminToken string // a global admin token
	Tenant     string // slug (default "load")
	Users      int    // how many users (default 4), named load-user-0…
	// ClientID is the confidential client's ID (default "load"); RedirectURI its one
	// redirect URI (default http://127.0.0.1:9/callback: the load's browsers stop at the
	// redirect and nothing needs to listen there).
	ClientID    string
	RedirectURI string
}

// Provision makes (or takes over) a tenant for the load through the admin API: the
// tenant, Users users with fresh random passwords (an existing user gets a new one),
// and a confidential client with the authorization_code, refresh_token and
// client_credentials grants (an existing one gets a new secret). It returns the
// target, with the issuer the tenant reports. Run it only against a deployment made
// for testing: it resets those users' passwords and that client's secret.
func Provision(ctx context.Context, pc ProvisionConfig) (Target, error) {
	if pc.Tenant == "" {
		pc.Tenant = "load"
	}
	if pc.Users <= 0 {
		pc.Users = 4
	}
	if pc.ClientID == "" {
		pc.ClientID = "load"
	}
	if pc.RedirectURI == "" {
		pc.RedirectURI = "http://127.0.0.1:9/callback"
	}
	a := provisioner{base: strings.TrimSuffix(pc.AdminURL, "/") + "/admin/v1", token: pc.AdminToken}
	tp := "/tenants/" + url.PathEscape(pc.Tenant)
	var tenant struct {
		Issuer string `json:"issuer"`
	}
	status, err := a.call(ctx, http.MethodPost, "/tenants", map[string]any{"slug": pc.Tenant, "display_name": "nines lab load"}, &tenant, 201, 409)
	if err != nil {
		return Target{}, err
	}
	if status == http.StatusConflict {
		if _, err := a.call(ctx, http.MethodGet, tp, nil, &tenant, 200); err != nil {
			return Target{}, err
		}
	}
	t := Target{Issuer: tenant.Issuer, AdminURL: pc.AdminURL, AdminToken: pc.AdminToken, Tenant: pc.Tenant}
	for i := range pc.Users {
		u := User{Username: fmt.Sprintf("load-user-%d", i), Password: randomPassword()}
		var created struct {
			ID string `json:"id"`
		}
		status, err := a.call(ctx, http.MethodPost, tp+"/users", map[string]any{"username": u.Username,
			"email": u.Username + "@example.com", "email_verified": true, "given_name": "Load", "family_name": fmt.Sprint(i),
			"password": u.Password}, &created, 201, 409)
		if err != nil {
			return Target{}, err
		}
		if status == http.StatusConflict {
			id, err := lookupUserID(ctx, t, u.Username)
			if err != nil {
				return Target{}, err
			}
			if _, err := a.call(ctx, http.MethodPost, tp+"/users/"+id+"/password", map[string]string{"password": u.Password}, nil, 200, 204); err != nil {
				return Target{}, err
			}
		}
		t.Users = append(t.Users, u)
	}
	var app struct {
		ClientSecret string `json:"client_secret"`
	}
	status, err = a.call(ctx, http.MethodPost, tp+"/applications", map[string]any{"client_id": pc.ClientID,
		"client_name": "nines lab load", "type": "confidential", "redirect_uris": []string{pc.RedirectURI},
		"grant_types": []string{"authorization_code", "refresh_token", "client_credentials"}}, &app, 201, 409)
	if err != nil {
		return Target{}, err
	}
	if status == http.StatusConflict {
		var list struct {
			Items []struct {
				ID           string   `json:"id"`
				ClientID     string   `json:"client_id"`
				RedirectURIs []string `json:"redirect_uris"`
			} `json:"items"`
		}
		if _, err := a.call(ctx, http.MethodGet, tp+"/applications?limit=500", nil, &list, 200); err != nil {
			return Target{}, err
		}
		id := ""
		for _, it := range list.Items {
			if it.ClientID == pc.ClientID {
				id = it.ID
				if len(it.RedirectURIs) > 0 {
					pc.RedirectURI = it.RedirectURIs[0]
				}
			}
		}
		if id == "" {
			return Target{}, fmt.Errorf("provision: client %q exists but is not listed", pc.ClientID)
		}
		if _, err := a.call(ctx, http.MethodPost, tp+"/applications/"+id+"/secret", nil, &app, 200); err != nil {
			return Target{}, err
		}
	}
	t.Client = Client{ID: pc.ClientID, Secret: app.ClientSecret, RedirectURI: pc.RedirectURI}
	return t, t.validate()
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

type provisioner struct{ base, token string }

// call makes one admin API request and decodes the answer into out when its status is
// the first of want; any other status in want is returned without decoding.
func (a provisioner) call(ctx context.Context, method, path string, in, out any, want ...int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("provision: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	for i, w := range want {
		if resp.StatusCode != w {
			continue
		}
		if i == 0 && out != nil && len(b) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return w, fmt.Errorf("provision: %s %s: %w", method, path, err)
			}
		}
		return w, nil
	}
	return resp.StatusCode, fmt.Errorf("provision: %s %s: %s: %.300s", method, path, resp.Status, b)
}
