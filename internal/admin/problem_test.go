package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/field"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// The SQL store is the implementation Store describes.
var _ Store = (*sqlstore.Store)(nil)

func TestToProblem(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
		known  bool
	}{
		{"problem", malformed("x"), 400, typeMalformed, true},
		{"wrapped problem", fmt.Errorf("ctx: %w", notFound("user")), 404, typeNotFound, true},
		{"field errors", field.Errors{{Field: "a", Detail: "b"}}, 422, typeValidation, true},
		{"already exists", fmt.Errorf("create: %w", store.AlreadyExists("slug")), 409, typeConflict, true},
		{"bare already exists", store.ErrAlreadyExists, 409, typeConflict, true},
		{"not found", store.ErrNotFound, 404, typeNotFound, true},
		{"version conflict", store.ErrConflict, 409, typeConflict, true},
		{"hasher busy", password.ErrBusy, 503, typeBusy, true},
		{"storage unavailable", store.ErrUnavailable, 503, typeUnavailable, true},
		{"client went away", context.Canceled, 500, typeInternal, false},
		{"anything else", errors.New("boom"), 500, typeInternal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, known := toProblem(tt.err)
			if p.Status != tt.status || p.Type != tt.typ || known != tt.known {
				t.Errorf("got %d %s known=%v, want %d %s known=%v", p.Status, p.Type, known, tt.status, tt.typ, tt.known)
			}
			if p.Title == "" || p.Detail == "" {
				t.Errorf("problem without fixed text: %+v", p)
			}
		})
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	e.mkTenant("acme")
	e.mkTenant("other")
	uid := e.as("POST", usersURL, `{"username":"alice"}`).want(http.StatusCreated).str("id")
	gid := e.as("POST", groupsURL, `{"name":"g"}`).want(http.StatusCreated).str("id")
	aid := e.as("POST", appsURL, `{"client_name":"a","redirect_uris":["https://a.example/cb"]}`).want(http.StatusCreated).str("id")
	o := "/admin/v1/tenants/other"
	tests := []struct{ name, method, path, body string }{
		{"get user", "GET", o + "/users/" + uid, ""},
		{"patch user", "PATCH", o + "/users/" + uid, `{"given_name":"x"}`},
		{"set password", "POST", o + "/users/" + uid + "/password", `{"password":"long enough pw"}`},
		{"delete user", "DELETE", o + "/users/" + uid, ""},
		{"get group", "GET", o + "/groups/" + gid, ""},
		{"patch group", "PATCH", o + "/groups/" + gid, `{"name":"h"}`},
		{"members", "GET", o + "/groups/" + gid + "/members", ""},
		{"remove member", "DELETE", o + "/groups/" + gid + "/members/" + uid, ""},
		{"delete group", "DELETE", o + "/groups/" + gid, ""},
		{"get application", "GET", o + "/applications/" + aid, ""},
		{"patch application", "PATCH", o + "/applications/" + aid, `{"client_name":"b"}`},
		{"rotate secret", "POST", o + "/applications/" + aid + "/secret", ""},
		{"delete application", "DELETE", o + "/applications/" + aid, ""},
		{"random id", "GET", o + "/users/" + uuid.NewString(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.in(t).as(tt.method, tt.path, tt.body).problem(http.StatusNotFound, "not-found")
		})
	}
	// Everything is still there, unchanged, in its own tenant.
	for _, p := range []string{usersURL + "/" + uid, groupsURL + "/" + gid, appsURL + "/" + aid} {
		if v := e.as("GET", p, "").want(http.StatusOK).json()["version"]; v != float64(1) {
			t.Errorf("%s has version %v after the other tenant's attempts", p, v)
		}
	}
}
