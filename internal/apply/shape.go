package apply

import (
	"math"
	"reflect"
	"slices"
	"strings"
)

var docType = reflect.TypeFor[document]()

// checkShape walks the decoded YAML tree v alongside the Go type t and reports unknown
// keys and values of the wrong kind, each at its YAML path. A null is accepted wherever
// a value is optional (it reads as "absent").
func checkShape(v any, t reflect.Type, path string, ps *problems) {
	if v == nil {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkShape(v, t.Elem(), path, ps)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			ps.add(pathOrRoot(path), "must be a mapping of fields, not "+kindOf(v))
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				ps.add(join(path, k), "unknown field (known: "+strings.Join(sortedKeys(fields), ", ")+")")
				continue
			}
			checkShape(m[k], ft, join(path, k), ps)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			ps.add(path, "must be a list, not "+kindOf(v))
			return
		}
		for i, e := range list {
			if e == nil {
				ps.add(index(path, i), "is empty")
				continue
			}
			checkShape(e, t.Elem(), index(path, i), ps)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, "must be a string, not "+kindOf(v)+" (quote it)")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, "must be true or false, not "+kindOf(v))
		}
	case reflect.Int, reflect.Int64:
		switch f, ok := v.(float64); {
		case !ok:
			ps.add(path, "must be a whole number, not "+kindOf(v))
		case f != math.Trunc(f) || math.Abs(f) > 1<<53:
			ps.add(path, "must be a whole number")
		}
	case reflect.Map:
		if _, ok := v.(map[string]any); !ok {
			ps.add(path, "must be a mapping, not "+kindOf(v))
		}
	}
}

func pathOrRoot(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

// jsonFields maps the exported fields' JSON names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

func sortedKeys(m map[string]reflect.Type) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	default:
		return "null"
	}
}
