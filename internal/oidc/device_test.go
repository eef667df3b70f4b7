package oidc

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/login/ui"
)

func TestDeviceFlowWithRealClient(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.DevicePollInterval = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newRP(t, w, "acme", "tv")
	r.conf.RedirectURL = ""
	r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	da, err := r.conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if !strings.HasPrefix(da.VerificationURI, w.issuer("acme")+"/device") || len(da.UserCode) != 9 {
		t.Fatalf("device response %+v", da)
	}
	poll := func() (int, map[string]any) {
		return postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {client.GrantDeviceCode},
			"device_code": {da.DeviceCode}, "client_id": {"tv"}}, "", "")
	}
	if status, out := poll(); status != http.StatusBadRequest || out["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", status, out)
	}
	if status, out := poll(); out["error"] != "slow_down" {
		t.Fatalf("immediate second poll: %d %v", status, out)
	}
	// Another client cannot poll this device code.
	if status, out := postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {client.GrantDeviceCode},
		"device_code": {da.DeviceCode}}, "web", w.secret("acme", "web")); status == http.StatusOK || (out["error"] != "invalid_grant" && out["error"] != "unauthorized_client") {
		t.Fatalf("foreign poll: %d %v", status, out)
	}

	b := newBrowser(t)
	// Lower case and without the dash still finds the code; no session yet: the login form.
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	pg := b.get(da.VerificationURI + "?user_code=" + url.QueryEscape(typed))
	pg = signInForm(t, b, pg)
	if pg.status != http.StatusOK || !strings.Contains(pg.body, `value="`+ui.DecisionApprove+`"`) {
		t.Fatalf("confirmation page: %d %.400s", pg.status, pg.body)
	}
	done := b.submit(pg, url.Values{ui.FieldDecision: {ui.DecisionApprove}})
	if done.status != http.StatusOK {
		t.Fatalf("approval: %d", done.status)
	}
	tok, err := r.conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device token: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(ctx, raw)
	if err != nil || idt.Subject != w.userByName("acme", "alice").ID.String() {
		t.Fatalf("device ID token: %v %v", err, idt)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}
	if status, out := poll(); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("device code used twice: %d %v", status, out)
	}
	// The user code is spent too.
	if pg := b.get(da.VerificationURIComplete); pg.status != http.StatusBadRequest {
		t.Errorf("spent user code: %d", pg.status)
	}
}

func TestDeviceDeniedAndExpired(t *testing.T) {
	w := newWorld(t)
	start := func() map[string]any {
		status, out := postForm(t, w.issuer("acme")+"/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid"}}, "", "")
		if status != http.StatusOK {
			t.Fatalf("device authorization: %d %v", status, out)
		}
		return out
	}
	poll := func(dc string) (int, map[string]any) {
		return postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {client.GrantDeviceCode},
			"device_code": {dc}, "client_id": {"tv"}}, "", "")
	}
	da := start()
	b := newBrowser(t)
	pg := signInForm(t, b, b.get(str(da, "verification_uri_complete")))
	b.submit(pg, url.Values{ui.FieldDecision: {ui.DecisionDeny}})
	if status, out := poll(str(da, "device_code")); status != http.StatusBadRequest || out["error"] != "access_denied" {
		t.Errorf("denied: %d %v", status, out)
	}
	da = start()
	w.clock.Advance(11 * time.Minute)
	if _, out := poll(str(da, "device_code")); out["error"] != "expired_token" {
		t.Errorf("expired: %v", out)
	}
	// A client without the device grant.
	if status, out := postForm(t, w.issuer("acme")+"/device_authorization", url.Values{"scope": {"openid"}}, "web", w.secret("acme", "web")); status != http.StatusBadRequest || out["error"] != "unauthorized_client" {
		t.Errorf("web at device_authorization: %d %v", status, out)
	}
}

// TestDeviceTokenSurvivesATransientFailure: a failure while minting the tokens of an
// approved device is a 503 that leaves the approval in place; the next poll gets the
// tokens, and the one after that finds the device code spent.
func TestDeviceTokenSurvivesATransientFailure(t *testing.T) {
	fu := &flakyUsers{}
	w := newWorld(t, func(c *Config) { c.Users = fu })
	fu.UserReader = w
	status, da := postForm(t, w.issuer("acme")+"/device_authorization", url.Values{"client_id": {"tv"}, "scope": {"openid offline_access"}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, da)
	}
	b := newBrowser(t)
	pg := signInForm(t, b, b.get(str(da, "verification_uri_complete")))
	if done := b.submit(pg, url.Values{ui.FieldDecision: {ui.DecisionApprove}}); done.status != http.StatusOK {
		t.Fatalf("approval: %d", done.status)
	}
	poll := func() (int, map[string]any) {
		return postForm(t, w.issuer("acme")+"/token", url.Values{"grant_type": {client.GrantDeviceCode},
			"device_code": {str(da, "device_code")}, "client_id": {"tv"}}, "", "")
	}
	fu.failNext(1)
	if status, out := poll(); status != http.StatusServiceUnavailable {
		t.Fatalf("poll while the user store is down: %d %v", status, out)
	}
	status, tok := poll()
	if status != http.StatusOK || str(tok, "refresh_token") == "" {
		t.Fatalf("poll after the failure: %d %v", status, tok)
	}
	if status, out := poll(); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("device code used twice: %d %v", status, out)
	}
}
