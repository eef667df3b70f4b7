package apply

import (
	"fmt"
	"slices"
	"strings"
)

// diff collects the fields of one entity that differ between the server and the file,
// as a JSON merge patch with only those fields.
type diff struct {
	fields  []string
	patch   map[string]any
	details []string
}

func (d *diff) set(name string, cur, want any) {
	if d.patch == nil {
		d.patch = map[string]any{}
	}
	d.fields = append(d.fields, name)
	d.patch[name] = want
	d.details = append(d.details, fmt.Sprintf("%s: %s → %s", name, show(cur), show(want)))
}

// setShown is set for a value whose dry-run rendering is a summary, not the value.
func (d *diff) setShown(name, cur, wantShown string, want any) {
	if d.patch == nil {
		d.patch = map[string]any{}
	}
	d.fields = append(d.fields, name)
	d.patch[name] = want
	d.details = append(d.details, fmt.Sprintf("%s: %s → %s", name, cur, wantShown))
}

// str compares an optional string field; nil want means "not managed".
func (d *diff) str(name, cur string, want *string) {
	if want != nil && *want != cur {
		d.set(name, cur, *want)
	}
}

// integer compares an optional number field.
func (d *diff) integer(name string, cur int64, want *int64) {
	if want != nil && *want != cur {
		d.set(name, cur, *want)
	}
}

func (d *diff) boolean(name string, cur bool, want *bool) {
	if want != nil && *want != cur {
		d.set(name, cur, *want)
	}
}

// list compares lists as sets: the order of redirect URIs or grant types means nothing,
// and a server that sorts them must not cause a diff on every apply.
func (d *diff) list(name string, cur, want []string) {
	if !sameSet(cur, want) {
		if want == nil {
			want = []string{}
		}
		d.set(name, cur, want)
	}
}

func (d *diff) empty() bool { return len(d.fields) == 0 }

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func show(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}
