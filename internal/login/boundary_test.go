package login_test

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/login"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// The replica view of the store is what the login tier gets.
var (
	_ login.TenantReader      = (*sqlstore.Reader)(nil)
	_ login.UserReader        = (*sqlstore.Reader)(nil)
	_ login.ApplicationReader = (*sqlstore.Reader)(nil)
)

// TestNoWriterImports proves that no login package depends, even indirectly, on a store
// implementation or on the admin tier: the login tier can only reach entity data through
// the reader interfaces it is handed.
func TestNoWriterImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ninesid/nines/internal/login/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/ninesid/nines/internal/store/",
		"github.com/ninesid/nines/internal/admin",
		"github.com/jackc/pgx",
		"modernc.org/sqlite",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list returned too little to be a dependency list: %q", deps)
	}
	for _, d := range deps {
		if d == "database/sql" { // database/sql/driver (interfaces only, via uuid) is fine
			t.Errorf("login depends on database/sql")
		}
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("login depends on %s (forbidden prefix %s)", d, f)
			}
		}
	}
}

// TestReaderHasNoWriteMethods keeps the replica view read-only by construction.
func TestReaderHasNoWriteMethods(t *testing.T) {
	rt := reflect.TypeOf((*sqlstore.Reader)(nil))
	if rt.NumMethod() == 0 {
		t.Fatal("sqlstore.Reader has no methods")
	}
	for i := range rt.NumMethod() {
		name := rt.Method(i).Name
		for _, verb := range []string{"Create", "Update", "Delete", "Add", "Remove", "Set", "Put", "Insert", "Exec", "InTx"} {
			if strings.HasPrefix(name, verb) {
				t.Errorf("sqlstore.Reader has write-like method %s", name)
			}
		}
	}
}
