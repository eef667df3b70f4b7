package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

func testKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KEKSize)
	_, _ = rand.Read(k)
	return k
}

func TestValidateKEK(t *testing.T) {
	tests := []struct {
		name string
		n    int
		ok   bool
	}{{"empty", 0, false}, {"16 bytes", 16, false}, {"31 bytes", 31, false}, {"32 bytes", 32, true}, {"33 bytes", 33, false}, {"64 bytes", 64, false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateKEK(make([]byte, tc.n))
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateKEK(%d bytes) = %v, want ok=%v", tc.n, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrKEK) {
				t.Errorf("err = %v, want ErrKEK", err)
			}
		})
	}
}

// TestSignAndVerify: for every algorithm, a JWS signed with the key's Signer verifies
// with the key as published in the JWKS, through go-jose.
func TestSignAndVerify(t *testing.T) {
	kek := testKEK(t)
	tid := uuid.New()
	for _, alg := range Algs {
		t.Run(string(alg), func(t *testing.T) {
			k, err := Generate(alg, tid, Current, kek)
			if err != nil {
				t.Fatal(err)
			}
			if k.TenantID != tid || k.Alg != alg || k.State != Current || k.CreatedAt.IsZero() {
				t.Fatalf("Generate = %+v", k)
			}
			if raw, err := bytesFromKid(k.ID); err != nil || len(raw) != 16 {
				t.Errorf("kid %q is not 128 bits of base64url (%v)", k.ID, err)
			}
			signer, err := k.Signer(kek)
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: signer},
				(&jose.SignerOptions{}).WithHeader("kid", k.ID))
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			obj, err := js.Sign([]byte("payload"))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			compact, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			other, err := Generate(alg, tid, Next, kek)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := PublicJWKS([]Key{other, k})
			if err != nil {
				t.Fatalf("PublicJWKS: %v", err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(doc, &set); err != nil {
				t.Fatal(err)
			}
			found := set.Key(k.ID)
			if len(found) != 1 || found[0].Algorithm != string(alg) || found[0].Use != "sig" {
				t.Fatalf("JWKS lookup of %s = %+v", k.ID, found)
			}
			parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := parsed.Verify(found[0])
			if err != nil || string(got) != "payload" {
				t.Fatalf("Verify with the published key = %q, %v", got, err)
			}
			if _, err := parsed.Verify(set.Key(other.ID)[0]); err == nil {
				t.Error("the signature verifies with another key too")
			}
		})
	}
}

func bytesFromKid(kid string) ([]byte, error) {
	return base64URL.DecodeString(kid)
}

// TestJWKSHasNoPrivateParts: nothing private in the published set, and a stored JWK that
// carries private members is refused rather than published.
func TestJWKSHasNoPrivateParts(t *testing.T) {
	kek := testKEK(t)
	ks, err := NewSet(uuid.New(), kek)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := PublicJWKS(ks)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil || len(raw.Keys) != len(ks) {
		t.Fatalf("JWKS %s: %v", doc, err)
	}
	for _, k := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWK %v has private member %q", k["kid"], private)
			}
		}
	}
	for _, k := range ks {
		if bytes.Contains(doc, k.Sealed) {
			t.Error("JWKS contains sealed bytes")
		}
	}

	// A private JWK in the PublicJWK column is refused.
	signer, err := ks[0].Signer(kek)
	if err != nil {
		t.Fatal(err)
	}
	leaked := ks[0]
	leaked.PublicJWK, err = jose.JSONWebKey{Key: signer, KeyID: leaked.ID, Algorithm: string(leaked.Alg)}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := PublicJWKS([]Key{leaked}); err == nil {
		t.Fatalf("PublicJWKS published a private JWK: %s", doc)
	}
	bad := ks[0]
	bad.PublicJWK = []byte(`{"kty":"oct","k":"c2VjcmV0"}`)
	if _, err := PublicJWKS([]Key{bad}); err == nil {
		t.Error("PublicJWKS published a symmetric key")
	}
}

// TestSealedKeyDoesNotOpen: altered bytes, another tenant, kid or algorithm, or another
// KEK all fail, without key material in the error.
func TestSealedKeyDoesNotOpen(t *testing.T) {
	kek := testKEK(t)
	k, err := Generate(ES256, uuid.New(), Current, kek)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Generate(ES256, uuid.New(), Current, kek)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) func(k *Key) {
		return func(k *Key) {
			k.Sealed = bytes.Clone(k.Sealed)
			k.Sealed[i%len(k.Sealed)] ^= 0x01
		}
	}
	tests := []struct {
		name   string
		change func(k *Key)
		kek    []byte
		want   error
	}{
		{"version byte", flip(0), kek, ErrOpen},
		{"nonce", flip(5), kek, ErrOpen},
		{"ciphertext", flip(40), kek, ErrOpen},
		{"tag", flip(len(k.Sealed) - 1), kek, ErrOpen},
		{"truncated", func(k *Key) { k.Sealed = k.Sealed[:20] }, kek, ErrOpen},
		{"empty", func(k *Key) { k.Sealed = nil }, kek, ErrOpen},
		{"appended", func(k *Key) { k.Sealed = append(bytes.Clone(k.Sealed), 0) }, kek, ErrOpen},
		{"other tenant", func(k *Key) { k.TenantID = uuid.New() }, kek, ErrOpen},
		{"other kid", func(k *Key) { k.ID = other.ID }, kek, ErrOpen},
		{"other alg", func(k *Key) { k.Alg = RS256 }, kek, ErrOpen},
		{"sealed bytes of another key", func(k *Key) { k.Sealed = other.Sealed }, kek, ErrOpen},
		{"wrong KEK", func(*Key) {}, testKEK(t), ErrOpen},
		{"short KEK", func(*Key) {}, kek[:16], ErrKEK},
		{"no KEK", func(*Key) {}, nil, ErrKEK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := k
			tc.change(&x)
			s, err := x.Signer(tc.kek)
			if s != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Signer = %v, %v; want %v", s, err, tc.want)
			}
		})
	}
	// Untouched, it opens; and with the right sealed bytes under a mixed-up public JWK
	// it refuses to sign.
	if _, err := k.Signer(kek); err != nil {
		t.Fatalf("Signer of the untouched key: %v", err)
	}
	mixed := k
	mixed.PublicJWK = other.PublicJWK
	if _, err := mixed.Signer(kek); err == nil {
		t.Error("Signer accepted a private key that does not match its public JWK")
	}
}

func TestGenerateRejects(t *testing.T) {
	kek := testKEK(t)
	tests := []struct {
		name   string
		alg    Alg
		tenant uuid.UUID
		state  State
		kek    []byte
	}{
		{"unknown alg", "HS256", uuid.New(), Current, kek},
		{"empty alg", "", uuid.New(), Current, kek},
		{"unknown state", ES256, uuid.New(), "retired", kek},
		{"no tenant", ES256, uuid.Nil, Current, kek},
		{"short KEK", ES256, uuid.New(), Current, kek[:31]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := Generate(tc.alg, tc.tenant, tc.state, tc.kek); err == nil {
				t.Fatalf("Generate = %+v, want an error", k)
			}
		})
	}
}

func states(ks []Key) map[string]State {
	m := map[string]State{}
	for _, k := range ks {
		m[k.ID] = k.State
	}
	return m
}

func TestNewSetAndRotate(t *testing.T) {
	kek := testKEK(t)
	tid := uuid.New()
	set, err := NewSet(tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2*len(Algs) || !IsComplete(set) {
		t.Fatalf("NewSet has %d keys, complete=%v", len(set), IsComplete(set))
	}
	if err := ValidateSet(set, tid); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		next, err := Rotate(set, tid, kek)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := ValidateSet(next, tid); err != nil || !IsComplete(next) {
			t.Fatalf("round %d: set invalid (%v) or incomplete", round, err)
		}
		if len(next) != 3*len(Algs) {
			t.Errorf("round %d: %d keys, want %d", round, len(next), 3*len(Algs))
		}
		before, after := states(set), states(next)
		for _, alg := range Algs {
			cur, _ := Find(set, alg, Current)
			nxt, _ := Find(set, alg, Next)
			if after[cur.ID] != Previous || after[nxt.ID] != Current {
				t.Errorf("round %d %s: current → %q, next → %q", round, alg, after[cur.ID], after[nxt.ID])
			}
			if prev, ok := Find(set, alg, Previous); ok {
				if _, kept := after[prev.ID]; kept {
					t.Errorf("round %d %s: previous key kept", round, alg)
				}
			}
			newNext, _ := Find(next, alg, Next)
			if _, old := before[newNext.ID]; old {
				t.Errorf("round %d %s: next key is not new", round, alg)
			}
			// Rotated keys still open: sealing does not bind the state.
			if c, _ := Find(next, alg, Current); true {
				if _, err := c.Signer(kek); err != nil {
					t.Errorf("round %d %s: new current does not open: %v", round, alg, err)
				}
			}
		}
		set = next
	}
	if _, err := Rotate(set, uuid.New(), kek); err == nil {
		t.Error("Rotate accepted another tenant's keys")
	}
	if _, err := Rotate(set, tid, kek[:8]); !errors.Is(err, ErrKEK) {
		t.Errorf("Rotate with a short KEK = %v", err)
	}
}

func TestComplete(t *testing.T) {
	kek := testKEK(t)
	tid := uuid.New()
	full, err := NewSet(tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	same, err := Complete(full, tid, kek)
	if err != nil || fmt.Sprint(states(same)) != fmt.Sprint(states(full)) {
		t.Fatalf("Complete of a complete set changed it: %v", err)
	}
	partial := full[:3] // RS256 current, next; ES256 current
	filled, err := Complete(partial, tid, kek)
	if err != nil {
		t.Fatal(err)
	}
	if !IsComplete(filled) || len(filled) != len(full) {
		t.Fatalf("Complete of a partial set: %d keys, complete=%v", len(filled), IsComplete(filled))
	}
	for _, k := range partial {
		if states(filled)[k.ID] != k.State {
			t.Errorf("Complete changed existing key %s", k.ID)
		}
	}
	if IsComplete(partial) || IsComplete(nil) {
		t.Error("IsComplete true for an incomplete set")
	}
}

func TestValidateSet(t *testing.T) {
	tid := uuid.New()
	mk := func(id string, alg Alg, st State) Key {
		return Key{ID: id, TenantID: tid, Alg: alg, State: st, PublicJWK: []byte("{}"), Sealed: []byte{1}}
	}
	tests := []struct {
		name   string
		ks     []Key
		tenant uuid.UUID
		ok     bool
	}{
		{"empty", nil, tid, true},
		{"fine", []Key{mk("a", RS256, Current), mk("b", RS256, Next), mk("c", ES256, Current)}, tid, true},
		{"no tenant", nil, uuid.Nil, false},
		{"no kid", []Key{mk("", RS256, Current)}, tid, false},
		{"other tenant", []Key{func() Key { k := mk("a", RS256, Current); k.TenantID = uuid.New(); return k }()}, tid, false},
		{"bad alg", []Key{mk("a", "none", Current)}, tid, false},
		{"bad state", []Key{mk("a", RS256, "old")}, tid, false},
		{"no sealed", []Key{func() Key { k := mk("a", RS256, Current); k.Sealed = nil; return k }()}, tid, false},
		{"duplicate kid", []Key{mk("a", RS256, Current), mk("a", RS256, Next)}, tid, false},
		{"two current", []Key{mk("a", RS256, Current), mk("b", RS256, Current)}, tid, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateSet(tc.ks, tc.tenant); (err == nil) != tc.ok {
				t.Fatalf("ValidateSet = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestLogValueHidesSealed(t *testing.T) {
	kek := testKEK(t)
	k, err := Generate(EdDSA, uuid.New(), Next, kek)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
	sealed := base64.StdEncoding.EncodeToString(k.Sealed)
	for name, out := range map[string]string{
		"slog": buf.String(), "%v": fmt.Sprintf("%v", k), "%+v": fmt.Sprintf("%+v", k), "%#v": fmt.Sprintf("%#v", k),
		"json": func() string { b, _ := json.Marshal(k); return string(b) }(),
	} {
		if !strings.Contains(out, k.ID) || strings.Contains(strings.ToLower(out), "sealed") ||
			strings.Contains(out, sealed[:16]) || strings.Contains(out, fmt.Sprint(k.Sealed[:8])[1:12]) {
			t.Errorf("%s shows more than the key's name: %s", name, out)
		}
	}
}
