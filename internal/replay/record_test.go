package replay

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAnswerRoundTrip: encode and decodeAnswer agree, and sealing under one ID does
// not open under another or with another key.
func TestAnswerRoundTrip(t *testing.T) {
	a := answer{status: 201, header: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=1", "b=2"},
		"X-Empty": {""}}, body: []byte(`{"ok":true}`)}
	key, other := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	v, err := seal(key, "id1", a.encode())
	if err != nil {
		t.Fatal(err)
	}
	pt, err := open(key, "id1", v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAnswer(pt)
	if err != nil {
		t.Fatal(err)
	}
	if got.status != a.status || !bytes.Equal(got.body, a.body) || len(got.header) != len(a.header) ||
		got.header.Get("Content-Type") != "application/json" || len(got.header.Values("Set-Cookie")) != 2 {
		t.Fatalf("round trip: %+v, want %+v", got, a)
	}
	if _, err := open(key, "id2", v); err != errOpen {
		t.Errorf("opened under another ID: %v", err)
	}
	if _, err := open(other, "id1", v); err != errOpen {
		t.Errorf("opened with another key: %v", err)
	}
	if _, err := open(key, "id1", newMarker()); err != errOpen {
		t.Errorf("a pending marker opened: %v", err)
	}
}

// TestDecodeAnswerGarbage: malformed plaintexts are errors, never panics.
func TestDecodeAnswerGarbage(t *testing.T) {
	enc := answer{status: 200, header: http.Header{"A": {"b"}}, body: []byte("x")}.encode()
	for i := range len(enc) {
		_, _ = decodeAnswer(enc[:i])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		_, _ = decodeAnswer(b)
	}
	if _, err := decodeAnswer([]byte{0, 42, 0}); err != errOpen {
		t.Errorf("status 42 decoded: %v", err)
	}
}

// TestRecordIDCoversTheRequest: every part of the request the ID covers changes it.
func TestRecordIDCoversTheRequest(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	base := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/t/acme/token?a=1", nil)
		r.Header.Set("Authorization", "Basic x")
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	want := recordID(key, base(), []byte("body"))
	if again := recordID(key, base(), []byte("body")); again != want {
		t.Fatal("the ID is not stable")
	}
	variants := map[string]func() (*http.Request, []byte, []byte){
		"key":  func() (*http.Request, []byte, []byte) { return base(), bytes.Repeat([]byte{8}, 16), []byte("body") },
		"body": func() (*http.Request, []byte, []byte) { return base(), key, []byte("bodz") },
		"method": func() (*http.Request, []byte, []byte) {
			r := base()
			r.Method = http.MethodPut
			return r, key, []byte("body")
		},
		"path": func() (*http.Request, []byte, []byte) {
			r := base()
			r.URL.Path = "/t/acmf/token"
			return r, key, []byte("body")
		},
		"query": func() (*http.Request, []byte, []byte) {
			r := base()
			r.URL.RawQuery = "a=2"
			return r, key, []byte("body")
		},
		"auth": func() (*http.Request, []byte, []byte) {
			r := base()
			r.Header.Set("Authorization", "Basic y")
			return r, key, []byte("body")
		},
		"cookie": func() (*http.Request, []byte, []byte) {
			r := base()
			r.Header.Set("Cookie", "s=1")
			return r, key, []byte("body")
		},
	}
	for name, v := range variants {
		r, k, body := v()
		if recordID(k, r, body) == want {
			t.Errorf("changing the %s keeps the ID", name)
		}
	}
}
