package affinity

import "testing"

func TestTags(t *testing.T) {
	for _, tt := range []struct {
		artifact, want string
	}{
		{"login-a-euw-b.AbC_-12", "login-a-euw-b"},
		{"AbC_-12", ""},
		{"", ""},
		{".AbC", ""},
		{"UPPER.AbC", ""},
		{"-lead.AbC", ""},
		{"0123456789012345678901234567890123.x", ""}, // too long
		{"a.b.c", "a"},
	} {
		if got := TagOf(tt.artifact); got != tt.want {
			t.Errorf("TagOf(%q) = %q, want %q", tt.artifact, got, tt.want)
		}
	}
	if got := Prefix("", "s3cret"); got != "s3cret" {
		t.Errorf("Prefix without a tag = %q", got)
	}
	if got := TagOf(Prefix("n1", "s3cret")); got != "n1" {
		t.Errorf("round trip = %q", got)
	}
}
