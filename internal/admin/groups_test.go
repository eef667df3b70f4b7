package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const groupsURL = "/admin/v1/tenants/acme/groups"

func TestGroupLifecycle(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	alice := e.as("POST", usersURL, `{"username":"alice"}`).want(http.StatusCreated).str("id")
	r := e.as("POST", groupsURL, `{"name":"Admins","description":"the admins"}`).want(http.StatusCreated)
	gid := r.str("id")
	if r.Header().Get("Location") != groupsURL+"/"+gid || r.Header().Get("ETag") != `"1"` {
		t.Errorf("headers: %v", r.Header())
	}
	if n := len(e.as("GET", groupsURL+"?name=Admins", "").want(http.StatusOK).items()); n != 1 {
		t.Errorf("filter by name found %d, want 1", n)
	}
	if n := len(e.as("GET", groupsURL+"?name=Nobody", "").want(http.StatusOK).items()); n != 0 {
		t.Errorf("filter by unknown name found %d, want 0", n)
	}
	if m := e.as("PATCH", groupsURL+"/"+gid, `{"description":"ops"}`).want(http.StatusOK).json(); m["description"] != "ops" || m["name"] != "Admins" {
		t.Errorf("patched: %v", m)
	}
	e.as("GET", groupsURL+"/"+gid, "").want(http.StatusOK)

	members := groupsURL + "/" + gid + "/members"
	e.as("POST", members, `{"user_id":"`+alice+`"}`).want(http.StatusNoContent)
	p := e.as("POST", members, `{"user_id":"`+alice+`"}`).problem(http.StatusConflict, "conflict")
	if got := fieldErrors(p); len(got) != 1 || got[0] != "user_id" {
		t.Errorf("duplicate membership fields %v", got)
	}
	items := e.as("GET", members, "").want(http.StatusOK).items()
	if len(items) != 1 || items[0]["id"] != alice {
		t.Errorf("members %v", items)
	}
	e.as("DELETE", members+"/"+alice, "").want(http.StatusNoContent)
	e.as("DELETE", members+"/"+alice, "").problem(http.StatusNotFound, "not-found")
	if n := len(e.as("GET", members, "").want(http.StatusOK).items()); n != 0 {
		t.Errorf("%d members after removal", n)
	}
	e.as("DELETE", groupsURL+"/"+gid, "").want(http.StatusNoContent)
	e.as("GET", members, "").problem(http.StatusNotFound, "not-found")
}

func TestGroupErrors(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	e.mkTenant("other")
	stranger := e.as("POST", "/admin/v1/tenants/other/users", `{"username":"eve"}`).want(http.StatusCreated).str("id")
	gid := e.as("POST", groupsURL, `{"name":"Admins"}`).want(http.StatusCreated).str("id")
	members := groupsURL + "/" + gid + "/members"
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
		fields                   []string
	}{
		{"duplicate name", "POST", groupsURL, `{"name":"Admins"}`, 409, "conflict", []string{"name"}},
		{"bad name", "POST", groupsURL, `{"name":"-x","description":"` + strings.Repeat("d", 1001) + `"}`, 422, "validation", []string{"name", "description"}},
		{"member of another tenant", "POST", members, `{"user_id":"` + stranger + `"}`, 422, "validation", []string{"user_id"}},
		{"member id not a uuid", "POST", members, `{"user_id":"bob"}`, 422, "validation", []string{"user_id"}},
		{"member id missing", "POST", members, `{}`, 422, "validation", []string{"user_id"}},
		{"member id a number", "POST", members, `{"user_id":7}`, 400, "malformed-request", nil},
		{"members of unknown group", "GET", groupsURL + "/" + uuid.NewString() + "/members", "", 404, "not-found", nil},
		{"add to unknown group", "POST", groupsURL + "/" + uuid.NewString() + "/members", `{"user_id":"` + stranger + `"}`, 404, "not-found", nil},
		{"remove malformed member", "DELETE", members + "/x", "", 404, "not-found", nil},
		{"patch unknown group", "PATCH", groupsURL + "/" + uuid.NewString(), `{}`, 404, "not-found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.in(t).as(tt.method, tt.path, tt.body).problem(tt.status, tt.typ)
			if got := strings.Join(fieldErrors(p), ","); got != strings.Join(tt.fields, ",") {
				t.Errorf("field errors %q, want %q", got, strings.Join(tt.fields, ","))
			}
		})
	}
}
