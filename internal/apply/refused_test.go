package apply_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ninesid/nines/internal/apply"
)

func TestServerRefusalNamesTheYAMLPathAndKeepsWhatWasDone(t *testing.T) {
	e := setup(t)
	e.mustRun(example)
	e.reset()
	// carol takes alice's e-mail: the file alone cannot tell (alice is no longer in it),
	// so the server refuses the create.
	file := replace(
		"      - username: Alice\n        email: Alice@Example.com\n        given_name: Alice\n        family_name: Liddell\n        password: \"correct horse battery staple\"\n",
		"      - username: dave\n      - username: carol\n        email: alice@example.com\n",
	)()
	out, err := e.run(file)
	if err == nil {
		t.Fatalf("no error; printed\n%s", out)
	}
	t.Logf("error: %v", err)
	for _, w := range []string{`stopped at "+ user acme/carol"`, "tenants[0].users[1].email", "already", "POST /admin/v1/tenants/acme/users", "HTTP 409"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if out != "+ user acme/dave\n" {
		t.Errorf("printed %q, want only the change that was made before the failure", out)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		http.NotFound(w, r)
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()

	e := setup(t)
	_, err := e.run(example, func(o *apply.Options) { o.Server = srv.URL })
	if err == nil || !strings.Contains(err.Error(), "HTTP 307") {
		t.Errorf("err = %v, want the redirect reported", err)
	}
	if leaked.Load() {
		t.Error("the token was sent to the redirect target")
	}
}

func TestServerPathPrefixAndTrailingSlash(t *testing.T) {
	e := setup(t)
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path)
		r2, _ := http.NewRequest(r.Method, e.url+strings.TrimPrefix(r.URL.RequestURI(), "/nines"), r.Body)
		r2.Header = r.Header
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		b, _ := io.ReadAll(resp.Body)
		_, _ = w.Write(b)
	}))
	defer proxy.Close()
	out := e.mustRun(example, dryRun, func(o *apply.Options) { o.Server = proxy.URL + "/nines/" })
	if !strings.HasPrefix(out, "+ tenant acme\n") {
		t.Errorf("printed %q", out)
	}
	if p, _ := seen.Load().(string); p != "/nines/admin/v1/tenants/acme" {
		t.Errorf("last path = %q, want the prefix kept", p)
	}
}
