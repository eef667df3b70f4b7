package apply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// The types below are the file format. Pointer fields are optional and unmanaged when
// omitted (the server's value is kept); see doc.go.

type document struct {
	Tenants []tenantSpec `json:"tenants"`
}

type tenantSpec struct {
	Slug                   string  `json:"slug"`
	DisplayName            string  `json:"display_name"`
	Status                 *string `json:"status"`
	PrimaryColor           *string `json:"primary_color"`
	LockoutThreshold       *int64  `json:"lockout_threshold"`
	LockoutDurationSeconds *int64  `json:"lockout_duration_seconds"`
	// UserImport is the tenant's just-in-time import source; {url: ""} removes it.
	UserImport *userImportSpec `json:"user_import"`
	// KeyGeneration, when greater than the server's, makes apply rotate the tenant's
	// signing keys once per missing generation; lower is a no-op with a note.
	KeyGeneration *int64      `json:"key_generation"`
	Users         []userSpec  `json:"users"`
	Groups        []groupSpec `json:"groups"`
	Applications  []appSpec   `json:"applications"`
}

type userImportSpec struct {
	URL string `json:"url"`
}

type userSpec struct {
	Username      string  `json:"username"`
	Email         *string `json:"email"`
	EmailVerified *bool   `json:"email_verified"`
	GivenName     *string `json:"given_name"`
	FamilyName    *string `json:"family_name"`
	Status        *string `json:"status"`
	Password      *string `json:"password"`
	PasswordFile  string  `json:"password_file"`

	password secret // resolved from Password or PasswordFile by load
}

type groupSpec struct {
	Name        string  `json:"name"`
	Description *string `json:"description"`
	// Members nil (key absent or null): membership unmanaged; empty: no members.
	Members []string `json:"members"`
}

type appSpec struct {
	ClientID                 string   `json:"client_id"`
	ClientName               string   `json:"client_name"`
	Type                     string   `json:"type"`
	RedirectURIs             []string `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris"`
	GrantTypes               []string `json:"grant_types"`
	ResponseTypes            []string `json:"response_types"`
	TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg"`
	// JWKS is the client's public key set for private_key_jwt, as a YAML mapping with a
	// "keys" list; omitted = none.
	JWKS map[string]any `json:"jwks"`
}

// secret holds a password; it formats as a placeholder so that no %v, error or log
// line can reveal it.
type secret string

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return "[redacted]" }

// maxFileSize bounds what load reads; a declaration file of several MiB is a mistake.
const maxFileSize = 8 << 20

// load reads, decodes and checks the file at path. Every problem is returned at once
// as a *FileError.
func load(path string) (*document, error) {
	raw, err := readBounded(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	doc, err := decode(path, raw)
	if err != nil {
		return nil, err
	}
	ps := check(doc, filepath.Dir(path))
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return doc, nil
}

// decode turns YAML into the document, reporting unknown fields and wrong types with
// their YAML paths (json.Decoder's own errors do not carry list indexes).
func decode(path string, raw []byte) (*document, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &FileError{File: path, Problems: []Problem{{Detail: "the file is empty; it must declare tenants"}}}
	}
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, &FileError{File: path, Problems: []Problem{{Detail: "invalid YAML: " + err.Error()}}}
	}
	var tree any
	if err := json.Unmarshal(js, &tree); err != nil {
		return nil, &FileError{File: path, Problems: []Problem{{Detail: "invalid YAML: " + err.Error()}}}
	}
	if tree == nil { // only comments
		return nil, &FileError{File: path, Problems: []Problem{{Detail: "the file is empty; it must declare tenants"}}}
	}
	var ps problems
	checkShape(tree, docType, "", &ps)
	if err := ps.err(path); err != nil {
		return nil, err
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		// checkShape should have caught it; this is the backstop.
		return nil, &FileError{File: path, Problems: []Problem{{Detail: err.Error()}}}
	}
	return &doc, nil
}

// readBounded reads at most limit bytes of path and fails if there is more.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}
