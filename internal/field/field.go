// Package field carries field-level validation problems from the domain packages to the
// protocol boundaries, which render them (the admin API as RFC 9457 problem details).
// It has no dependencies and must never gain any.
package field

import (
	"strings"
	"unicode/utf8"
)

// Error is one problem with one named input field. Field uses the wire name
// (snake_case JSON name) so that boundaries can pass it through unchanged.
type Error struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Errors is every problem found in one input; validation collects them all rather than
// stopping at the first, so a client can fix its request in one round trip.
type Errors []Error

// Add appends a problem for name.
func (es *Errors) Add(name, detail string) { *es = append(*es, Error{Field: name, Detail: detail}) }

// Err returns es as an error, or nil when there is no problem.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Field + ": " + e.Detail
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Line reports whether s is valid UTF-8 without control characters (NUL included):
// what a name, a title or a key may hold. Databases reject some of these bytes and logs
// and pages mangle others, so they are refused at the boundary.
func Line(s string) bool { return plain(s, false) }

// Text is Line that also allows line feeds, carriage returns and tabs (descriptions).
func Text(s string) bool { return plain(s, true) }

func plain(s string, multiline bool) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return false // invalid UTF-8 (or a literal U+FFFD, which no field needs)
		case multiline && (r == '\n' || r == '\r' || r == '\t'):
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return false
		}
	}
	return true
}
