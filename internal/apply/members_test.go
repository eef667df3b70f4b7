package apply_test

import (
	"strings"
	"testing"
)

// replace returns an edit of example that makes the replacements old→new in order.
func replace(pairs ...string) func() string {
	return func() string {
		s := example
		for i := 0; i+1 < len(pairs); i += 2 {
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		return s
	}
}

const bobUser = "      - username: bob\n        email: bob@example.com\n        password_file: bob.password\n"

func TestMembershipIsDeclaredCompletely(t *testing.T) {
	e := setup(t)
	e.mustRun(example)

	// The steps run in order on one server; each starts from the previous step's state.
	steps := []struct {
		name    string
		file    func() string
		want    string
		posts   int
		deletes int
	}{
		{"replace a member", replace("members: [alice]", "members: [bob]"),
			"+ member acme/admins ← bob\n- member acme/admins ← alice\n1 created, 0 updated, 1 deleted\n", 1, 1},
		{"member only on the server", replace("members: [alice]", "members: [bob, alice]", bobUser, ""),
			"+ member acme/admins ← alice\n1 created, 0 updated, 0 deleted\n", 1, 0},
		{"omitted members are not managed", replace("        members: [alice]\n", ""),
			"no changes\n", 0, 0},
		{"empty list removes everyone", replace("members: [alice]", "members: []"),
			"- member acme/admins ← alice\n- member acme/admins ← bob\n0 created, 0 updated, 2 deleted\n", 0, 2},
		{"member names are normalised", replace("members: [alice]", "members: []",
			"      - name: everyone\n", "      - name: everyone\n        members: [Alice, BOB]\n"),
			"+ member acme/everyone ← alice\n+ member acme/everyone ← bob\n2 created, 0 updated, 0 deleted\n", 2, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			file := s.file()
			e.reset()
			out := e.mustRun(file)
			if out != s.want {
				t.Errorf("printed\n%s\nwant\n%s", out, s.want)
			}
			if e.count("POST") != s.posts || e.count("DELETE") != s.deletes || e.count("PATCH") != 0 {
				t.Errorf("sent %v, want %d POST and %d DELETE", e.counts, s.posts, s.deletes)
			}
			e.reset()
			if out := e.mustRun(file); out != "no changes\n" {
				t.Errorf("re-apply printed %q", out)
			}
		})
	}
}
