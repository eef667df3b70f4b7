package apitoken

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestGenerate(t *testing.T) {
	a, da := Generate()
	b, _ := Generate()
	if a == b || !strings.HasPrefix(a, Prefix) || len(a) < len(Prefix)+43 {
		t.Fatalf("tokens not unique, unprefixed or short: %q %q", a, b)
	}
	if !bytes.Equal(Digest(a), da) || bytes.Equal(Digest(b), da) {
		t.Error("digest does not identify its token")
	}
}

func TestScopeAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name            string
		tok             Token
		global, expired bool
	}{
		{"global, no expiry", Token{}, true, false},
		{"scoped", Token{TenantID: uuid.New()}, false, false},
		{"expires later", Token{ExpiresAt: now.Add(time.Second)}, true, false},
		{"expires now", Token{ExpiresAt: now}, true, true},
		{"expired", Token{ExpiresAt: now.Add(-time.Hour)}, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tok.Global() != tt.global || tt.tok.Expired(now) != tt.expired {
				t.Errorf("Global=%v Expired=%v, want %v %v", tt.tok.Global(), tt.tok.Expired(now), tt.global, tt.expired)
			}
		})
	}
}

func TestScopeValidate(t *testing.T) {
	for _, tt := range []struct {
		scope Scope
		ok    bool
	}{
		{"", true}, {ScopeAdmin, true}, {ScopeProvision, true}, {"Provision", false}, {"root", false},
	} {
		es := Token{Name: "n", Scope: tt.scope}.Validate()
		if (len(es) == 0) != tt.ok || (!tt.ok && es[0].Field != "scope") {
			t.Errorf("scope %q: Validate = %v, want ok=%v", tt.scope, es, tt.ok)
		}
	}
}
