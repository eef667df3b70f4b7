package tenant

import (
	"strings"
	"testing"
	"time"
)

func TestApplyDefaults(t *testing.T) {
	var tn Tenant
	tn.ApplyDefaults()
	if tn.Status != StatusActive || tn.Lockout != DefaultLockout {
		t.Errorf("defaults: %+v", tn)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		t      Tenant
		fields []string
	}{
		{"ok", Tenant{Slug: "acme", DisplayName: "Acme", Status: StatusActive}, nil},
		{"ok with digits and hyphen", Tenant{Slug: "acme-2", DisplayName: "Acme", Status: StatusDisabled}, nil},
		{"upper case", Tenant{Slug: "Acme", DisplayName: "Acme", Status: StatusActive}, []string{"slug"}},
		{"trailing hyphen", Tenant{Slug: "acme-", DisplayName: "Acme", Status: StatusActive}, []string{"slug"}},
		{"too long", Tenant{Slug: strings.Repeat("a", 64), DisplayName: "A", Status: StatusActive}, []string{"slug"}},
		{"reserved", Tenant{Slug: "admin", DisplayName: "A", Status: StatusActive}, []string{"slug"}},
		{"path traversal", Tenant{Slug: "../x", DisplayName: "A", Status: StatusActive}, []string{"slug"}},
		{"everything wrong", Tenant{Slug: "", DisplayName: " ", Status: "x"}, []string{"slug", "display_name", "status"}},
		{"colour", Tenant{Slug: "a", DisplayName: "A", PrimaryColor: "#1a73e8"}, nil},
		{"bad colour", Tenant{Slug: "a", DisplayName: "A", PrimaryColor: "red"}, []string{"primary_color"}},
		{"lockout out of range", Tenant{Slug: "a", DisplayName: "A", Lockout: LockoutPolicy{Threshold: 1001, Duration: time.Second}},
			[]string{"lockout_threshold", "lockout_duration_seconds"}},
		{"lockout at the bounds", Tenant{Slug: "a", DisplayName: "A", Lockout: LockoutPolicy{Threshold: 1000, Duration: 24 * time.Hour}}, nil},
		{"lockout lowest", Tenant{Slug: "a", DisplayName: "A", Lockout: LockoutPolicy{Threshold: 1, Duration: time.Minute}}, nil},
		{"lockout too long", Tenant{Slug: "a", DisplayName: "A", Lockout: LockoutPolicy{Threshold: 5, Duration: 24*time.Hour + time.Second}},
			[]string{"lockout_duration_seconds"}},
		{"lockout fractional seconds", Tenant{Slug: "a", DisplayName: "A", Lockout: LockoutPolicy{Threshold: 5, Duration: 90*time.Second + time.Millisecond}},
			[]string{"lockout_duration_seconds"}},
		{"negative threshold", Tenant{Slug: "a", DisplayName: "A", Lockout: LockoutPolicy{Threshold: -1, Duration: time.Minute}},
			[]string{"lockout_threshold"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.t.ApplyDefaults()
			got := map[string]bool{}
			for _, e := range tt.t.Validate() {
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

func TestValidImportURL(t *testing.T) {
	for _, tt := range []struct {
		name, url string
		ok        bool
	}{
		{"https", "https://legacy.example.com/check", true},
		{"https with port and query", "https://legacy.example.com:8443/v1/check?realm=staff", true},
		{"http on localhost", "http://localhost:9000/check", true},
		{"http on 127.0.0.1", "http://127.0.0.1:9000/check", true},
		{"http on another loopback address", "http://127.0.0.53/check", true},
		{"http on ::1", "http://[::1]:9000/check", true},
		{"http elsewhere", "http://legacy.example.com/check", false},
		{"http on a private address", "http://10.0.0.1/check", false},
		{"relative", "/check", false},
		{"no scheme", "legacy.example.com/check", false},
		{"ftp", "ftp://legacy.example.com/check", false},
		{"opaque", "https:legacy.example.com", false},
		{"no host", "https:///check", false},
		{"userinfo", "https://user:pw@legacy.example.com/check", false},
		{"user only", "https://user@legacy.example.com/check", false},
		{"fragment", "https://legacy.example.com/check#x", false},
		{"empty fragment", "https://legacy.example.com/check#", false},
		{"space", "https://legacy.example.com/a b", false},
		{"control character", "https://legacy.example.com/\x00", false},
		{"too long", "https://legacy.example.com/" + strings.Repeat("a", MaxImportURLLen), false},
		{"at the bound", "https://legacy.example.com/" + strings.Repeat("a", MaxImportURLLen-len("https://legacy.example.com/")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			why := ValidImportURL(tt.url)
			if (why == "") != tt.ok {
				t.Errorf("ValidImportURL(%q) = %q, want ok=%v", tt.url, why, tt.ok)
			}
			tn := Tenant{Slug: "a", DisplayName: "A", UserImport: UserImport{URL: tt.url}}
			tn.ApplyDefaults()
			es := tn.Validate()
			if (len(es) == 0) != tt.ok || (!tt.ok && es[0].Field != "user_import.url") {
				t.Errorf("Validate = %v, want ok=%v (field user_import.url)", es, tt.ok)
			}
		})
	}
	if (UserImport{}).Enabled() || !(UserImport{URL: "https://x"}).Enabled() {
		t.Error("Enabled disagrees with URL")
	}
}
