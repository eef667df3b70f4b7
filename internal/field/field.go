// Package field carries field-level validation problems from the domain packages to the
// protocol boundaries, which render them (the admin API as RFC 9457 problem details).
// It has no dependencies and must never gain any.
package field

import "strings"

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
