package admin

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

func parseOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(doc.OpenAPI) {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesRoutes holds the document to the route table in both directions.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := parseOpenAPI(t)
	routed := map[string]bool{}
	for _, rt := range routes {
		key := strings.ToLower(rt.Method) + " " + rt.Path
		routed[key] = true
		t.Run(key, func(t *testing.T) {
			ops, ok := doc.Paths[rt.Path]
			if !ok {
				t.Fatalf("path %s is routed but not documented", rt.Path)
			}
			raw, ok := ops[strings.ToLower(rt.Method)]
			if !ok {
				t.Fatalf("%s is routed but not documented", key)
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
				Security    *[]any                     `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" || len(op.Responses) == 0 {
				t.Fatalf("%s: operation lacks operationId or responses (%v)", key, err)
			}
			if noAuth := op.Security != nil && len(*op.Security) == 0; noAuth != (rt.Access == public) {
				t.Errorf("%s: documented as public=%v, routed with access %v", key, noAuth, rt.Access)
			}
			if rt.Access != public && op.Responses["401"] == nil {
				t.Errorf("%s: 401 not documented", key)
			}
			if rt.Method != http.MethodGet && op.Responses["503"] == nil {
				t.Errorf("%s: 503 (read-only mode) not documented", key)
			}
		})
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if !slices.Contains(httpMethods, m) {
				continue // "parameters" and other path-item members
			}
			if !routed[m+" "+path] {
				t.Errorf("%s %s is documented but not routed", m, path)
			}
		}
	}
}

// TestOpenAPIRefsResolve checks every $ref points at a component that exists and every
// path template names its parameters.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc := parseOpenAPI(t)
	var tree any
	if err := json.Unmarshal(openAPIDocument, &tree); err != nil {
		t.Fatal(err)
	}
	var refs []string
	collectRefs(tree, &refs, 0)
	if len(refs) == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
	for _, ref := range refs {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if !strings.HasPrefix(ref, "#/components/") || len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
			t.Errorf("$ref %q does not resolve", ref)
		}
	}
	wildcard := regexp.MustCompile(`\{([a-z_]+)\}`)
	for path, ops := range doc.Paths {
		body, _ := json.Marshal(ops)
		for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
			if !strings.Contains(string(body), `"#/components/parameters/`+m[1]+`"`) {
				t.Errorf("%s: path parameter %s not declared", path, m[1])
			}
		}
	}
}

func collectRefs(v any, out *[]string, depth int) {
	if depth > 64 {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				*out = append(*out, s)
			}
			collectRefs(x, out, depth+1)
		}
	case []any:
		for _, x := range v {
			collectRefs(x, out, depth+1)
		}
	}
}
