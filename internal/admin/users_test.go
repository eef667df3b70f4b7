package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const usersURL = "/admin/v1/tenants/acme/users"

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	r := e.as("POST", usersURL, `{"username":" Alice ","email":"Alice@Example.com","email_verified":true,
		"given_name":"Alice","family_name":"Liddell","password":"correct horse battery"}`).want(http.StatusCreated)
	u := r.json()
	if u["username"] != "alice" || u["email"] != "alice@example.com" || u["has_password"] != true || u["status"] != "active" {
		t.Fatalf("created user: %v", u)
	}
	if strings.Contains(r.Body.String(), "argon2") || strings.Contains(r.Body.String(), "password_hash") {
		t.Fatalf("response leaks the hash: %s", r.Body.String())
	}
	id := u["id"].(string)
	if got := r.Header().Get("Location"); got != usersURL+"/"+id {
		t.Errorf("Location %q", got)
	}
	stored := e.storedUser("acme", id)
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q is not argon2id", stored.PasswordHash)
	}

	e.as("GET", usersURL+"/"+id, "").want(http.StatusOK)
	r = e.as("PATCH", usersURL+"/"+id, `{"email":"alice@wonderland.example","family_name":null}`).want(http.StatusOK)
	if m := r.json(); m["email_verified"] != false || m["family_name"] != "" || m["given_name"] != "Alice" {
		t.Errorf("patched user: %v", m)
	}

	e.as("POST", usersURL+"/"+id+"/password", `{"password":"another long one"}`).want(http.StatusNoContent)
	if again := e.storedUser("acme", id); again.PasswordHash == stored.PasswordHash || again.PasswordHash == "" {
		t.Errorf("password hash did not change")
	}

	e.as("DELETE", usersURL+"/"+id, "").want(http.StatusNoContent)
	e.as("GET", usersURL+"/"+id, "").problem(http.StatusNotFound, "not-found")
	e.as("DELETE", usersURL+"/"+id, "").problem(http.StatusNotFound, "not-found")
	if strings.Contains(e.logs.String(), "correct horse") || strings.Contains(e.logs.String(), "another long one") {
		t.Errorf("a password reached the log")
	}
}

func (e *env) storedUser(slug, id string) struct{ PasswordHash string } {
	e.t.Helper()
	ctx := context.Background()
	tn, err := e.store.TenantBySlug(ctx, slug)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.store.User(ctx, tn.ID, uuid.MustParse(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return struct{ PasswordHash string }{u.PasswordHash}
}

func TestUserFilters(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	e.as("POST", usersURL, `{"username":"alice","email":"alice@example.com"}`).want(http.StatusCreated)
	e.as("POST", usersURL, `{"username":"bob"}`).want(http.StatusCreated)
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all", "", []string{"alice", "bob"}},
		{"by username, normalised", "?username=ALICE", []string{"alice"}},
		{"by email", "?email=alice%40example.com", []string{"alice"}},
		{"by username and email", "?username=alice&email=alice%40example.com", []string{"alice"}},
		{"username and another email", "?username=alice&email=bob%40example.com", nil},
		{"unknown username", "?username=carol", nil},
		{"empty email matches no one", "?email=", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, it := range e.in(t).as("GET", usersURL+tt.query, "").want(http.StatusOK).items() {
				got = append(got, it["username"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUserErrors(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	id := e.as("POST", usersURL, `{"username":"alice","email":"alice@example.com"}`).want(http.StatusCreated).str("id")
	bob := e.as("POST", usersURL, `{"username":"bob"}`).want(http.StatusCreated).str("id")
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
		fields                   []string
	}{
		{"duplicate username, other case", "POST", usersURL, `{"username":"ALICE"}`, 409, "conflict", []string{"username"}},
		{"duplicate email", "POST", usersURL, `{"username":"alice2","email":"ALICE@example.com"}`, 409, "conflict", []string{"email"}},
		{"every field at once", "POST", usersURL, `{"username":"-x","email":"not mail","status":"gone","password":"short"}`, 422, "validation",
			[]string{"username", "email", "status", "password"}},
		{"missing username", "POST", usersURL, `{}`, 422, "validation", []string{"username"}},
		{"short password", "POST", usersURL + "/" + id + "/password", `{"password":"short"}`, 422, "validation", []string{"password"}},
		{"password of unknown user", "POST", usersURL + "/" + uuid.NewString() + "/password", `{"password":"long enough pw"}`, 404, "not-found", nil},
		{"password field in patch", "PATCH", usersURL + "/" + id, `{"password":"long enough pw"}`, 400, "malformed-request", nil},
		{"patch to a taken username", "PATCH", usersURL + "/" + bob, `{"username":"ALICE"}`, 409, "conflict", []string{"username"}},
		{"patch to own name in other case", "PATCH", usersURL + "/" + id, `{"username":"ALICE"}`, 200, "", nil},
		{"malformed id", "GET", usersURL + "/not-a-uuid", "", 404, "not-found", nil},
		{"unknown id", "GET", usersURL + "/" + uuid.NewString(), "", 404, "not-found", nil},
		{"unknown tenant", "GET", "/admin/v1/tenants/nope/users", "", 404, "not-found", nil},
		{"repeated filter", "GET", usersURL + "?username=a&username=b", "", 400, "malformed-request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.in(t).as(tt.method, tt.path, tt.body)
			if tt.typ == "" {
				r.want(tt.status)
				return
			}
			p := r.problem(tt.status, tt.typ)
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("field errors %q, want %q", got, strings.Join(tt.fields, ","))
			}
		})
	}
}
