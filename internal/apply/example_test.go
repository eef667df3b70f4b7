package apply_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/apply"
)

// TestDocumentedExample keeps testdata/example.yaml, the format's annotated example,
// valid and idempotent.
func TestDocumentedExample(t *testing.T) {
	e := newEnv(t)
	run := func(secretsFile string) string {
		var stdout, stderr bytes.Buffer
		err := apply.Run(context.Background(), apply.Options{File: "testdata/example.yaml", Server: e.url,
			Token: e.token, SecretsFile: secretsFile}, &stdout, &stderr)
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("apply: %v %s", err, stderr.String())
		}
		return stdout.String()
	}
	secrets := t.TempDir() + "/secrets.jsonl"
	out := run(secrets)
	if !strings.HasSuffix(out, "\n10 created, 1 updated, 0 deleted\n") || !strings.Contains(out, "~ keys acme: rotated (generation 1)\n") {
		t.Errorf("first apply printed\n%s", out)
	}
	if n := strings.Count(out, "written to "+secrets); n != 2 {
		t.Errorf("%d secrets written, want 2 (web and reports; cli is public, partner uses private_key_jwt):\n%s", n, out)
	}
	e.reset()
	if out := run(secrets); out != "no changes\n" || e.writes() != 0 {
		t.Errorf("second apply printed %q with %d writes", out, e.writes())
	}
}
