package kv_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/kv"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"letter", "a", true},
		{"every allowed class", "Az09-_=.x", true},
		{"max length", strings.Repeat("a", kv.MaxKeyLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", kv.MaxKeyLen+1), false},
		{"space", "a b", false},
		{"star", "*", false},
		{"gt", ">", false},
		{"slash", "a/b", false},
		{"colon", "a:b", false},
		{"utf-8", "é", false},
		{"leading dot", ".a", false},
		{"trailing dot", "a.", false},
		{"double dot", "a..b", false},
		{"lone dot", ".", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kv.CheckKey(tt.key)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
			}
			if err != nil && !errors.Is(err, kv.ErrInvalidKey) {
				t.Fatalf("CheckKey(%q) = %v, not ErrInvalidKey", tt.key, err)
			}
		})
	}
}

// FuzzCheckKey: CheckKey never panics, and what it accepts fits the documented set.
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"a", "a.b", "..", "é", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if kv.CheckKey(key) != nil {
			return
		}
		if len(key) == 0 || len(key) > kv.MaxKeyLen || strings.Trim(key, "-_=.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Fatalf("CheckKey accepted %q", key)
		}
	})
}
