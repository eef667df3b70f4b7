package oidc

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLoginTierImports proves this package reaches entity data only through the reader
// interfaces it is handed: no store implementation, no admin tier, no database driver,
// even indirectly (ARCHITECTURE.md §1).
func TestLoginTierImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ninesid/nines/internal/oidc/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned too little to be a dependency list: %q", deps)
	}
	for _, d := range deps {
		if d == "database/sql" { // database/sql/driver (interfaces only, via uuid) is fine
			t.Errorf("internal/oidc depends on database/sql")
		}
		// internal/store itself holds only sentinel errors (authn uses them); its
		// subpackages are the implementations.
		for _, f := range []string{"github.com/ninesid/nines/internal/store/", "github.com/ninesid/nines/internal/admin",
			"github.com/jackc/pgx", "modernc.org/sqlite"} {
			if strings.HasPrefix(d, f) {
				t.Errorf("internal/oidc depends on %s", d)
			}
		}
	}
}
