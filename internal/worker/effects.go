package worker

import (
	"encoding/json"
	"maps"
	"strings"

	"github.com/google/uuid"
)

// auditData is the Data of an audit event row.
type auditData struct {
	Actor   string            `json:"actor"`
	Subject string            `json:"subject,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// jsonObject encodes v (a struct or a map) as an event's Data, dropping empty strings
// of a map.
func jsonObject(v any) (json.RawMessage, error) {
	if m, ok := v.(map[string]string); ok {
		m = maps.Clone(m)
		maps.DeleteFunc(m, func(_, v string) bool { return v == "" })
		v = m
	}
	return json.Marshal(v)
}

// subjectUser is the user an audit event is about when its subject is "user:<uuid>", so
// that the event list's user filter finds it; uuid.Nil otherwise.
func subjectUser(subject string) uuid.UUID {
	rest, ok := strings.CutPrefix(subject, "user:")
	if !ok {
		return uuid.Nil
	}
	id, err := uuid.Parse(rest)
	if err != nil || len(rest) != 36 {
		return uuid.Nil
	}
	return id
}
