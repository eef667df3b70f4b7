package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// decode reads r's JSON body into dst, which must be a pointer to a struct: the
// Content-Type must be one of media (415), the body at most limit bytes (413), one JSON
// value with no unknown field and nothing after it (400).
func decode(w http.ResponseWriter, r *http.Request, limit int64, dst any, media ...string) error {
	if err := checkMediaType(r.Header.Get("Content-Type"), media); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	// Trailing data: anything but white space after the value is malformed.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return tooLarge(limit)
		}
		return malformed("the body must hold exactly one JSON object; found data after it")
	}
	return nil
}

func checkMediaType(ct string, allowed []string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, m := range allowed {
			if mt == m {
				return nil
			}
		}
	}
	return &problem{Type: typeMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
		Detail: "Content-Type must be " + strings.Join(allowed, " or ")}
}

func tooLarge(limit int64) *problem {
	return &problem{Type: typeTooLarge, Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
		Detail: fmt.Sprintf("the body must be at most %d bytes", limit)}
}

// decodeProblem turns a json.Decoder error into fixed client text. It names the field
// or the byte offset, never echoes the input.
func decodeProblem(err error) error {
	var (
		mb  *http.MaxBytesError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mb):
		return tooLarge(mb.Limit)
	case errors.Is(err, io.EOF):
		return malformed("the body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("the body ends in the middle of a JSON value")
	case errors.As(err, &syn):
		return malformed(fmt.Sprintf("the body is not valid JSON (at byte %d)", syn.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return malformed("the body must be a JSON object")
		}
		return malformed(fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type)))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return malformed("unknown field " + name)
	}
	return malformed("the body is not a valid JSON object")
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

// optional is a merge-patch field (RFC 7396): Set says whether the member was present.
// An explicit null removes the value, which for these scalar and list fields means the
// zero value (then validation decides whether that is acceptable).
type optional[T any] struct {
	Set   bool
	Value T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	var zero T
	o.Value = zero
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}
