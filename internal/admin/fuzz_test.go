package admin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecode sends arbitrary bodies and content types through the full handler (real
// SQLite store, fixed global token) to every route that decodes a body. Whatever the
// input, the answer is 2xx or 4xx with a JSON or problem+json body, never a panic or 5xx.
func FuzzDecode(f *testing.F) {
	e := newEnv(f, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler); c.MaxBodyBytes = 4096 })
	e.mkTenant("acme")
	uid := e.as("POST", usersURL, `{"username":"alice"}`).want(http.StatusCreated).str("id")
	gid := e.as("POST", groupsURL, `{"name":"g"}`).want(http.StatusCreated).str("id")
	aid := e.as("POST", appsURL, `{"client_name":"a","redirect_uris":["https://a.example/cb"]}`).want(http.StatusCreated).str("id")
	targets := []struct{ method, path string }{
		{"POST", "/admin/v1/tenants"},
		{"PATCH", "/admin/v1/tenants/acme"},
		{"POST", usersURL},
		{"PATCH", usersURL + "/" + uid},
		{"POST", usersURL + "/" + uid + "/password"},
		{"POST", groupsURL},
		{"PATCH", groupsURL + "/" + gid},
		{"POST", groupsURL + "/" + gid + "/members"},
		{"POST", appsURL},
		{"PATCH", appsURL + "/" + aid},
		{"POST", appsURL + "/" + aid + "/secret"},
		{"POST", "/admin/v1/tokens"},
	}
	seeds := []struct {
		target uint8
		ct     string
		body   string
	}{
		{0, "application/json", `{"slug":"beta","display_name":"Beta"}`},
		{1, "application/merge-patch+json", `{"display_name":null,"status":"disabled"}`},
		{2, "application/json; charset=utf-8", `{"username":"bob","email":"bob@example.com","password":"long enough"}`},
		{3, "application/json", `{"email_verified":"yes"}`},
		{4, "application/json", `{"password":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}`},
		{5, "application/json", `{"name":"ops"} trailing`},
		{6, "text/plain", `{"name":"x"}`},
		{7, "application/json", `{"user_id":"` + uid + `"}`},
		{8, "application/json", `{"client_name":"c","redirect_uris":["http://[::1]:80/cb"],"type":"public"}`},
		{9, "application/json", `{"grant_types":[1,2],"redirect_uris":{}}`},
		{10, "", ``},
		{11, "application/json", `{"name":"t","tenant":"acme","expires_at":"2999-12-31T23:59:59+01:00"}`},
		{2, "application/json", `[{"username":"x"}]`},
		{2, "application/json", `{"username":"x","username":"y"}`},
		{2, "application/json", "\xff\xfe{}"},
	}
	for _, s := range seeds {
		f.Add(s.target, s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, target uint8, contentType string, body []byte) {
		tg := targets[int(target)%len(targets)]
		r := httptest.NewRequest(tg.method, tg.path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+e.root)
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		checkFuzzResponse(t, w)
	})
}

func checkFuzzResponse(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code < 200 || w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	if w.Code == http.StatusNoContent {
		if w.Body.Len() != 0 {
			t.Fatalf("204 with a body")
		}
		return
	}
	ct := w.Header().Get("Content-Type")
	if ct != mediaJSON && ct != problemMediaType {
		t.Fatalf("status %d with Content-Type %q", w.Code, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v", err)
	}
	if ct == problemMediaType && m["status"] != float64(w.Code) {
		t.Fatalf("problem status %v on a %d response", m["status"], w.Code)
	}
}
