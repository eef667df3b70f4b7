package oidc

import (
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestCodeExchangeWaitsForAJustCreatedUser: a code issued for a user the replica does not
// have yet (created a moment ago on the primary, e.g. by just-in-time provisioning) is
// exchanged once replication brings the user, within the wait; if the user stays
// missing, the answer is 503 temporarily_unavailable and the code stays redeemable; for a
// grant authenticated long ago, a missing user is invalid_grant at once.
func TestCodeExchangeWaitsForAJustCreatedUser(t *testing.T) {
	w := newWorld(t)
	r := newRP(t, w, "acme", "web")
	alice := w.userByName("acme", "alice")
	hide := func() { w.mu.Lock(); delete(w.users, alice.ID); w.mu.Unlock() }
	show := func() { w.mu.Lock(); w.users[alice.ID] = alice; w.mu.Unlock() }

	v1 := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), v1)
	hide()
	time.AfterFunc(300*time.Millisecond, show) // replication catches up
	if status, out := redeem(t, w, "acme", "web", code, v1); status != http.StatusOK {
		t.Fatalf("exchange while the user replicates: %d %v; want 200 after the wait", status, out)
	}

	v2 := oauth2.GenerateVerifier()
	code = r.signIn(t, newBrowser(t), v2)
	hide()
	if status, out := redeem(t, w, "acme", "web", code, v2); status != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
		t.Fatalf("exchange with the user still missing: %d %v; want 503 temporarily_unavailable", status, out)
	}
	show()
	if status, out := redeem(t, w, "acme", "web", code, v2); status != http.StatusOK {
		t.Fatalf("retry once the user is there: %d %v; want 200 (the code was not spent)", status, out)
	}

	v3 := oauth2.GenerateVerifier()
	code = r.signIn(t, newBrowser(t), v3)
	hide()
	w.clock.Advance(userLagGrace + time.Second)
	if status, out := redeem(t, w, "acme", "web", code, v3); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("exchange for a user gone long after sign-in: %d %v; want invalid_grant (a wait would end in 503)", status, out)
	}
}
