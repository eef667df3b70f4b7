package admin

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/ninesid/nines/internal/changes"
)

// changeLog is a ChangePublisher that records what it is given and fails when told to.
type changeLog struct {
	mu   sync.Mutex
	got  []changes.Change
	fail bool
}

func (l *changeLog) Publish(_ context.Context, c changes.Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, c)
	if l.fail {
		return errors.New("broker down")
	}
	return nil
}

func (l *changeLog) all() []changes.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]changes.Change(nil), l.got...)
}

// TestRotationNotifiesTheLoginTier: each rotation announces the tenant's new key
// generation; writes that change nothing the login tier caches, and refused writes,
// announce nothing.
func TestRotationNotifiesTheLoginTier(t *testing.T) {
	log := &changeLog{}
	e := newEnv(t, func(c *Config) { c.Changes = log })
	e.mkTenant("acme")
	e.mkTenant("globex")
	e.as("PATCH", "/admin/v1/tenants/acme", `{"display_name":"Acme Two"}`).want(http.StatusOK)
	e.as("POST", "/admin/v1/tenants/nope/keys/rotate", "").want(http.StatusNotFound)
	if got := log.all(); len(got) != 0 {
		t.Fatalf("notifications before any rotation: %+v", got)
	}
	acme, err := e.store.TenantBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for gen := int64(1); gen <= 2; gen++ {
		r := e.as("POST", keysURL+"/rotate", "").want(http.StatusOK)
		if r.json()["key_generation"] != float64(gen) {
			t.Fatalf("rotation %d answered key_generation %v", gen, r.json()["key_generation"])
		}
	}
	want := []changes.Change{
		{Tenant: acme.ID, Kind: changes.Keys, Version: 1},
		{Tenant: acme.ID, Kind: changes.Keys, Version: 2},
	}
	if got := log.all(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("notifications = %+v, want %+v", got, want)
	}
}

// TestRotationSucceedsWhenTheNotificationFails: the notification is best effort; the
// rotation has committed and answers 200 with its generation.
func TestRotationSucceedsWhenTheNotificationFails(t *testing.T) {
	log := &changeLog{fail: true}
	e := newEnv(t, func(c *Config) { c.Changes = log })
	e.mkTenant("acme")
	r := e.as("POST", keysURL+"/rotate", "").want(http.StatusOK)
	if r.json()["key_generation"] != float64(1) || len(log.all()) != 1 {
		t.Fatalf("rotation with a failing publisher: %s, %d publish attempts", r.Body.String(), len(log.all()))
	}
	if g := e.as("GET", "/admin/v1/tenants/acme", "").want(http.StatusOK).json()["key_generation"]; g != float64(1) {
		t.Errorf("stored key_generation = %v, want 1", g)
	}
}
