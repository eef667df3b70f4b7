package password

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fast are cheap parameters for tests that are not about cost.
var fast = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := New(Config{Params: fast})
	tests := []struct {
		name, pw, try string
		want          bool
	}{
		{name: "same password", pw: "correct horse battery staple", try: "correct horse battery staple", want: true},
		{name: "wrong password", pw: "correct horse battery staple", try: "correct horse battery stapler", want: false},
		{name: "case matters", pw: "Secret", try: "secret", want: false},
		{name: "empty password", pw: "", try: "", want: true},
		{name: "unicode", pw: "pässwörd-密码", try: "pässwörd-密码", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := h.Hash(ctx, tt.pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(hash, tt.pw+"$") && tt.pw != "" {
				t.Fatalf("hash %q", hash)
			}
			ok, rehash, err := h.Verify(ctx, tt.try, hash)
			if err != nil || ok != tt.want || rehash {
				t.Fatalf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tt.want)
			}
		})
	}
}

func TestSaltsDiffer(t *testing.T) {
	h := New(Config{Params: fast})
	a, _ := h.Hash(context.Background(), "pw")
	b, _ := h.Hash(context.Background(), "pw")
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestUnknownUser(t *testing.T) {
	h := New(Config{Params: fast})
	for _, pw := range []string{"", "anything"} {
		ok, rehash, err := h.Verify(context.Background(), pw, "")
		if ok || rehash || err != nil {
			t.Fatalf("Verify(%q, empty hash) = %v, %v, %v; want false, false, nil", pw, ok, rehash, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct{ name, hash string }{
		{name: "garbage", hash: "not a hash"},
		{name: "bcrypt", hash: "$2b$10$abcdefghijklmnopqrstuu5v4w3x2y1z0ABCDEFGHIJKLMNOPQRS"},
		{name: "argon2i", hash: "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{name: "missing part", hash: "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{name: "extra part", hash: "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
		{name: "old version", hash: "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{name: "no version", hash: "$argon2id$$m=64,t=1,p=1$" + salt + "$" + key},
		{name: "params not numbers", hash: "$argon2id$v=19$m=a,t=1,p=1$" + salt + "$" + key},
		{name: "zero memory", hash: "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{name: "hostile memory", hash: "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{name: "memory overflows", hash: "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{name: "memory just above bound", hash: "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{name: "zero iterations", hash: "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{name: "hostile iterations", hash: "$argon2id$v=19$m=64,t=4294967295,p=1$" + salt + "$" + key},
		{name: "zero parallelism", hash: "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{name: "parallelism overflows", hash: "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key},
		{name: "salt not base64", hash: "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{name: "salt too short", hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{name: "key not base64", hash: "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!!"},
		{name: "key too short", hash: "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5"},
		{name: "key too long", hash: "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 176)},
	}
	h := New(Config{Params: fast})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "pw", tt.hash)
			if !errors.Is(err, ErrMalformed) || ok || rehash {
				t.Fatalf("Verify = %v, %v, %v; want false, false, ErrMalformed", ok, rehash, err)
			}
		})
	}
}

// TestStoredParamsBounded: a stored hash may cost at most 4× the Hasher's memory, 4× its
// iterations (at least 8) and parallelism 16; beyond that it is an attacker's row or a
// misconfiguration and is refused before it is computed. Hashes at the bounds verify.
func TestStoredParamsBounded(t *testing.T) {
	ctx := context.Background()
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	hostile := func(m, tt, p int) string {
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, tt, p, salt, key)
	}
	owasp := New(Config{Params: OWASP})
	strong := New(Config{Params: Params{Memory: 64, Iterations: 3, Parallelism: 1, SaltLen: 16, KeyLen: 32}})
	tests := []struct {
		name   string
		hasher *Hasher
		hash   string
		want   error
	}{
		{name: "memory above 4x", hasher: New(Config{Params: fast}), hash: hostile(4*64+1, 1, 1), want: ErrMalformed},
		{name: "memory above 4x of OWASP", hasher: owasp, hash: hostile(int(4*OWASP.Memory)+1, 2, 1), want: ErrMalformed},
		{name: "iterations above the minimum bound of 8", hasher: New(Config{Params: fast}), hash: hostile(64, 9, 1), want: ErrMalformed},
		{name: "iterations above 4x", hasher: strong, hash: hostile(64, 13, 1), want: ErrMalformed},
		{name: "parallelism above 16", hasher: New(Config{Params: fast}), hash: hostile(256, 1, 17), want: ErrMalformed},
		{name: "all hostile", hasher: New(Config{Params: fast}), hash: hostile(2048, 64, 255), want: ErrMalformed},
		{name: "memory at 4x", hasher: New(Config{Params: fast}), hash: hostile(4*64, 1, 1)},
		{name: "iterations at 8", hasher: New(Config{Params: fast}), hash: hostile(64, 8, 1)},
		{name: "iterations at 4x", hasher: strong, hash: hostile(64, 12, 1)},
		{name: "parallelism at 16", hasher: New(Config{Params: fast}), hash: hostile(256, 1, 16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := tt.hasher.Verify(ctx, "pw", tt.hash)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) || ok || rehash {
				t.Fatalf("Verify = %v, %v, %v; want false, false, %v", ok, rehash, err, tt.want)
			}
		})
	}

	// A real hash at every bound at once verifies.
	atBounds := New(Config{Params: Params{Memory: 4 * 64, Iterations: 8, Parallelism: 16, SaltLen: 16, KeyLen: 32}})
	hash, err := atBounds.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := New(Config{Params: fast}).Verify(ctx, "pw", hash); !ok || err != nil {
		t.Errorf("Verify(hash at the bounds) = %v, %v; want true, nil", ok, err)
	}
}

func TestRehash(t *testing.T) {
	ctx := context.Background()
	weak := New(Config{Params: fast})
	strong := New(Config{Params: Params{Memory: 128, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}})
	tests := []struct {
		name       string
		hasher     *Hasher // hashes the password
		pw         string
		wantOK     bool
		wantRehash bool
	}{
		{name: "weaker params, right password", hasher: weak, pw: "pw", wantOK: true, wantRehash: true},
		{name: "weaker params, wrong password", hasher: weak, pw: "nope", wantOK: false, wantRehash: false},
		{name: "current params", hasher: strong, pw: "pw", wantOK: true, wantRehash: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := tt.hasher.Hash(ctx, "pw")
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := strong.Verify(ctx, tt.pw, hash)
			if err != nil || ok != tt.wantOK || rehash != tt.wantRehash {
				t.Fatalf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tt.wantOK, tt.wantRehash)
			}
		})
	}
}

// TestBusy holds every slot (the test is in the package, so it can take them the way a
// running hash does) and checks that Hash and Verify give up with ErrBusy after MaxWait,
// or with the context's error when it ends first. No timing is asserted.
func TestBusy(t *testing.T) {
	h := New(Config{Params: fast, Concurrency: 2, MaxWait: time.Millisecond})
	hash, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	for range cap(h.slots) {
		h.slots <- struct{}{}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	slow := New(Config{Params: fast, Concurrency: 1, MaxWait: time.Hour})
	slow.slots <- struct{}{}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{name: "hash busy", call: func() error { _, err := h.Hash(context.Background(), "pw"); return err }, want: ErrBusy},
		{name: "verify busy", call: func() error { _, _, err := h.Verify(context.Background(), "pw", hash); return err }, want: ErrBusy},
		{name: "unknown user busy", call: func() error { _, _, err := h.Verify(context.Background(), "pw", ""); return err }, want: ErrBusy},
		{name: "context ends first", call: func() error { _, err := slow.Hash(cancelled, "pw"); return err }, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	// Freeing a slot makes hashing work again.
	<-h.slots
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatalf("Hash after a slot was freed: %v", err)
	}
}

func BenchmarkHash(b *testing.B) {
	h := New(Config{Params: OWASP, Concurrency: 1})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := New(Config{Params: OWASP, Concurrency: 1})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", hash); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
