package apply

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzDecode feeds arbitrary bytes through the file decoder and the checks: they must
// return a document or a *FileError, never panic.
// Run it with: go test -fuzz FuzzDecode ./internal/apply/
func FuzzDecode(f *testing.F) {
	seed, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("tenants:\n  - slug: a\n    users: [{username: x, email: 3}]\n"))
	f.Add([]byte("tenants: {a: b}\n"))
	f.Add([]byte("[1, 2]"))
	f.Add([]byte("tenants:\n  - groups:\n      - members: [null, {}, []]\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if bytes.Contains(raw, []byte("password_file")) {
			t.Skip("would read files named by the input")
		}
		doc, err := decode("fuzz.yaml", raw)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("error %v is not a *FileError with problems", err)
			}
			return
		}
		ps := check(doc, t.TempDir())
		for _, p := range ps {
			if p.Detail == "" {
				t.Fatalf("problem without detail at %q", p.Path)
			}
		}
	})
}
