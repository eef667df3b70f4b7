package user

import (
	"strings"
	"testing"
)

func TestUserValidate(t *testing.T) {
	tests := []struct {
		name   string
		u      User
		fields []string
	}{
		{"minimal", User{Username: "Alice", Status: StatusActive}, nil},
		{"full", User{Username: "alice.l+x@corp", Email: "Alice@Example.com", GivenName: "Alice", FamilyName: "L", Status: StatusActive}, nil},
		{"no username", User{Status: StatusActive}, []string{"username"}},
		{"username with space", User{Username: "al ice", Status: StatusActive}, []string{"username"}},
		{"username starts with dot", User{Username: ".alice", Status: StatusActive}, []string{"username"}},
		{"email with display name", User{Username: "a", Email: "Alice <alice@example.com>", Status: StatusActive}, []string{"email"}},
		{"email without domain", User{Username: "a", Email: "alice", Status: StatusActive}, []string{"email"}},
		{"long name", User{Username: "a", GivenName: strings.Repeat("x", 201), Status: StatusActive}, []string{"given_name"}},
		{"bad status", User{Username: "a", Status: "gone"}, []string{"status"}},
		{"all at once", User{Email: "x", Status: "?"}, []string{"username", "email", "status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.u
			u.Normalize()
			got := map[string]bool{}
			for _, e := range u.Validate() {
				got[e.Field] = true
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("problems on %v, want %v", got, tt.fields)
			}
			for _, f := range tt.fields {
				if !got[f] {
					t.Errorf("no problem on %s", f)
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	u := User{Username: "  Alice ", Email: "ALICE@Example.COM"}
	u.Normalize()
	if u.Username != "alice" || u.Email != "alice@example.com" {
		t.Errorf("got %q %q", u.Username, u.Email)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tt := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"short", "1234567", false},
		{"eight", "12345678", true},
		{"eight multibyte runes", "ääääääää", true},
		{"max", strings.Repeat("a", MaxPasswordLen), true},
		{"over max", strings.Repeat("a", MaxPasswordLen+1), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidatePassword(tt.pw).Err() == nil; got != tt.ok {
				t.Errorf("ValidatePassword ok=%v, want %v", got, tt.ok)
			}
		})
	}
}

func TestGroupValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    Group
		ok   bool
	}{
		{"plain", Group{Name: "admins"}, true},
		{"path-like", Group{Name: "eng/platform: sre"}, true},
		{"empty", Group{}, false},
		{"leading space", Group{Name: " admins"}, false},
		{"long description", Group{Name: "a", Description: strings.Repeat("x", 1001)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.g.Validate().Err() == nil; got != tt.ok {
				t.Errorf("ok=%v, want %v: %v", got, tt.ok, tt.g.Validate())
			}
		})
	}
}
