package provision

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	typedName = "NewBie"
	legacyPW  = "legacy password 1"
)

// legacy is a fake legacy password-check endpoint answering with status and body, and
// recording the last request it got.
type legacy struct {
	srv    *httptest.Server
	hits   atomic.Int32
	got    atomic.Pointer[sourceRequest]
	header atomic.Pointer[http.Header]
}

func newLegacy(t *testing.T, h func(w http.ResponseWriter, r *http.Request, in sourceRequest)) *legacy {
	t.Helper()
	l := &legacy{}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hits.Add(1)
		var in sourceRequest
		if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in) != nil {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		hd := r.Header.Clone()
		l.got.Store(&in)
		l.header.Store(&hd)
		h(w, r, in)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// vouching answers 200 with a profile for legacyPW and 401 otherwise.
func vouching(username string) func(http.ResponseWriter, *http.Request, sourceRequest) {
	return func(w http.ResponseWriter, _ *http.Request, in sourceRequest) {
		if in.Password != legacyPW {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"username": username, "email": "newbie@example.com",
			"given_name": "New", "family_name": "Bie", "legacy_id": 42})
	}
}

func status(code int, body string) func(http.ResponseWriter, *http.Request, sourceRequest) {
	return func(w http.ResponseWriter, _ *http.Request, _ sourceRequest) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func sourceClient() SourceClient {
	return SourceClient{HTTP: NewHTTPClient(), Timeout: 2 * time.Second}
}

func TestSourceVouches(t *testing.T) {
	l := newLegacy(t, vouching("newbie"))
	p, err := sourceClient().Check(t.Context(), l.srv.URL+"/check", typedName, legacyPW)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	want := Profile{Username: "newbie", Email: "newbie@example.com", GivenName: "New", FamilyName: "Bie"}
	if p != want {
		t.Errorf("profile %+v, want %+v", p, want)
	}
	in := l.got.Load()
	if in == nil || in.Username != typedName || in.Password != legacyPW {
		t.Errorf("the source got %+v, want the name as typed and the password", in)
	}
	if h := *l.header.Load(); h.Get("Content-Type") != "application/json" || h.Get("Authorization") != "" {
		t.Errorf("request headers %v", h)
	}
}

func TestSourceAnswers(t *testing.T) {
	big := `{"username":"newbie","given_name":"` + strings.Repeat("x", MaxBody) + `"}`
	tests := []struct {
		name    string
		h       func(http.ResponseWriter, *http.Request, sourceRequest)
		pw      string
		wantErr error
	}{
		{"wrong password 401", vouching("newbie"), "guess", ErrRejected},
		{"403", status(403, ""), legacyPW, ErrRejected},
		{"404", status(404, "no such user"), legacyPW, ErrRejected},
		{"another username", vouching("someone-else"), legacyPW, ErrRejected},
		{"no username", status(200, `{"email":"x@example.com"}`), legacyPW, ErrRejected},
		{"500", status(500, "boom"), legacyPW, ErrSourceUnavailable},
		{"503", status(503, ""), legacyPW, ErrSourceUnavailable},
		{"400", status(400, ""), legacyPW, ErrSourceUnavailable},
		{"204", status(204, ""), legacyPW, ErrSourceUnavailable},
		{"malformed JSON", status(200, `{"username":`), legacyPW, ErrSourceUnavailable},
		{"JSON of another shape", status(200, `["newbie"]`), legacyPW, ErrSourceUnavailable},
		{"username not a string", status(200, `{"username":7}`), legacyPW, ErrSourceUnavailable},
		{"oversized body", status(200, big), legacyPW, ErrSourceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLegacy(t, tt.h)
			_, err := sourceClient().Check(t.Context(), l.srv.URL, typedName, tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			noSecrets(t, err.Error())
		})
	}
}

func TestSourceRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	l := newLegacy(t, func(w http.ResponseWriter, r *http.Request, _ sourceRequest) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	_, err := sourceClient().Check(t.Context(), l.srv.URL, typedName, legacyPW)
	if !errors.Is(err, ErrSourceUnavailable) || followed.Load() != 0 {
		t.Fatalf("err = %v, redirect followed %d times; want unavailable and never followed", err, followed.Load())
	}
}

func TestSourceSlowOrDown(t *testing.T) {
	release := make(chan struct{})
	l := newLegacy(t, func(w http.ResponseWriter, r *http.Request, _ sourceRequest) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	defer close(release)
	c := SourceClient{HTTP: NewHTTPClient(), Timeout: 200 * time.Millisecond}
	_, err := c.Check(t.Context(), l.srv.URL, typedName, legacyPW)
	if !errors.Is(err, ErrSourceUnavailable) || !strings.Contains(err.Error(), "no answer in time") {
		t.Fatalf("slow source: err = %v, want unavailable (no answer in time)", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	_, err = sourceClient().Check(t.Context(), url+"/check", typedName, legacyPW)
	if !errors.Is(err, ErrSourceUnavailable) {
		t.Fatalf("source down: err = %v, want unavailable", err)
	}
	noSecrets(t, err.Error())
}

func TestSourceURLCheckedBeforeUse(t *testing.T) {
	for _, u := range []string{"http://legacy.example.com/check", "https://u:p@legacy.example.com/", "", "/check"} {
		_, err := sourceClient().Check(t.Context(), u, typedName, legacyPW)
		if !errors.Is(err, ErrSourceUnavailable) {
			t.Errorf("%q: err = %v, want unavailable without a request", u, err)
		}
	}
}

// noSecrets fails when s holds the password or the name typed, in any case.
func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{legacyPW, strings.ToLower(typedName), "newbie@example.com"} {
		if strings.Contains(strings.ToLower(s), secret) {
			t.Errorf("%q holds %q", s, secret)
		}
	}
}
