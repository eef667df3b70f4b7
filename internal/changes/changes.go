package changes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/google/uuid"
)

// DefaultPrefix namespaces the subjects when a Prefix is empty: the deployment's
// namespace, as for the command stream (bus.DefaultPrefix) and the KV buckets.
const DefaultPrefix = "nines"

// MaxMessageBytes bounds a change on the wire; one is about 100 bytes.
const MaxMessageBytes = 1 << 10

// Kind says what changed.
type Kind string

// The kinds.
const (
	// Keys: the tenant's signing keys were replaced (a rotation); Version is the
	// tenant's new key_generation.
	Keys Kind = "keys"
)

// kindPattern is what a kind may look like: one subject token, lower case.
var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Change is one admin write the login tier may have cached the old state of.
type Change struct {
	Tenant uuid.UUID
	Kind   Kind
	// Version is the version or generation the write produced (for Keys, the tenant's
	// key_generation); 0 when the kind has none. A handler waits until its store shows
	// at least this.
	Version int64
}

// Validate reports what makes c unfit to publish.
func (c Change) Validate() error {
	switch {
	case c.Tenant == uuid.Nil:
		return errors.New("changes: no tenant")
	case !kindPattern.MatchString(string(c.Kind)):
		return fmt.Errorf("changes: kind %q is not a lower-case subject token", c.Kind)
	case c.Version < 0:
		return errors.New("changes: negative version")
	}
	return nil
}

// Subject is the subject changes of kind are published on.
func Subject(prefix string, kind Kind) string {
	return orDefault(prefix) + ".changes." + string(kind)
}

// SubjectFilter matches every change subject of prefix: "<prefix>.changes.>".
func SubjectFilter(prefix string) string { return orDefault(prefix) + ".changes.>" }

func orDefault(prefix string) string {
	if prefix == "" {
		return DefaultPrefix
	}
	return prefix
}

// wire is a change as JSON. Tenant is the canonical UUID text.
type wire struct {
	Tenant  string `json:"tenant"`
	Kind    Kind   `json:"kind"`
	Version int64  `json:"version,omitempty"`
}

// encode returns c's message body.
func encode(c Change) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(wire{Tenant: c.Tenant.String(), Kind: c.Kind, Version: c.Version})
}

// Reasons a message is dropped (errDecode wraps them).
var (
	errOversized = errors.New("larger than MaxMessageBytes")
	errDecode    = errors.New("malformed change")
)

// decode parses a message body strictly (see the package comment). unknown counts the
// members it ignored. The kind is checked against the subject by the caller.
func decode(data []byte) (c Change, unknown int, err error) {
	if len(data) > MaxMessageBytes {
		return Change{}, 0, errOversized
	}
	bad := func(format string, args ...any) (Change, int, error) {
		return Change{}, 0, fmt.Errorf("%w: %s", errDecode, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("not a JSON object")
	}
	seen := map[string]bool{}
	var (
		tenant, kind string
		version      json.RawMessage
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("%v", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return bad("member %q repeated", name)
		}
		seen[name] = true
		var dst any
		switch name {
		case "tenant":
			dst = &tenant
		case "kind":
			dst = &kind
		case "version":
			dst = &version
		default:
			unknown++
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			return bad("member %q: %v", name, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the object")
	}
	id, err := uuid.Parse(tenant)
	if err != nil || id == uuid.Nil || id.String() != tenant {
		return bad("tenant %q is not a canonical UUID", tenant)
	}
	c = Change{Tenant: id, Kind: Kind(kind)}
	if seen["version"] {
		// A JSON number only: not a string that holds one, not null.
		if c.Version, err = strconv.ParseInt(string(version), 10, 64); err != nil {
			return bad("version %.20q is not an integer", version)
		}
	}
	if err := c.Validate(); err != nil {
		return bad("%v", err)
	}
	return c, unknown, nil
}
