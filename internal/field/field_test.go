package field

import "testing"

func TestLineAndText(t *testing.T) {
	for _, tt := range []struct {
		name       string
		in         string
		line, text bool
	}{
		{"plain", "Acme Corp", true, true},
		{"unicode", "Åsa Öberg — ☃", true, true},
		{"empty", "", true, true},
		{"NUL", "a\x00b", false, false},
		{"escape", "a\x1bb", false, false},
		{"DEL", "a\x7f", false, false},
		{"C1 control", "a\u0085", false, false},
		{"newline", "a\nb", false, true},
		{"tab", "a\tb", false, true},
		{"invalid UTF-8", "a\xffb", false, false},
		{"replacement character", "a\uFFFDb", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in); got != tt.line {
				t.Errorf("Line(%q) = %v, want %v", tt.in, got, tt.line)
			}
			if got := Text(tt.in); got != tt.text {
				t.Errorf("Text(%q) = %v, want %v", tt.in, got, tt.text)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	var es Errors
	if es.Err() != nil {
		t.Fatal("no problems is not an error")
	}
	es.Add("a", "is bad")
	es.Add("b", "is worse")
	if es.Err() == nil || es.Error() != "invalid input: a: is bad; b: is worse" {
		t.Errorf("Error() = %q", es.Error())
	}
}
