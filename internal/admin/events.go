package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/event"
)

// eventJSON is one event of a tenant's audit and sign-in trail.
type eventJSON struct {
	ID     uuid.UUID       `json:"id"`
	Type   string          `json:"type"`
	UserID uuid.UUID       `json:"user_id,omitzero"`
	At     time.Time       `json:"at"`
	Data   json.RawMessage `json:"data"`
}

func toEventJSON(e event.Event) eventJSON {
	return eventJSON{ID: e.ID, Type: e.Type, UserID: e.UserID, At: e.At, Data: e.Data}
}

// listEvents lists the tenant's events, filtered by type, user_id and a time window
// (since inclusive, until exclusive, RFC 3339), ordered by ID (close to time order).
func (a *API) listEvents(c *call) error {
	q := c.r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		return err
	}
	f, err := eventFilter(q)
	if err != nil {
		return err
	}
	page, err := c.st.ListEvents(c.r.Context(), c.tenant.ID, f, opts)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, toList(page, toEventJSON))
}

// eventFilter reads the event list's filters; a malformed one is 400.
func eventFilter(q url.Values) (event.Filter, error) {
	var f event.Filter
	typ, _, err := filter(q, "type")
	if err != nil {
		return f, err
	}
	f.Type = typ
	if s, ok, err := filter(q, "user_id"); err != nil {
		return f, err
	} else if ok {
		id, err := uuid.Parse(s)
		if err != nil || len(s) != 36 || id == uuid.Nil {
			return f, malformed("user_id must be a user's UUID")
		}
		f.UserID = id
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s, ok, err := filter(q, p.name)
		if err != nil {
			return f, err
		}
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return f, malformed(p.name + " must be an RFC 3339 date-time such as 2026-11-21T09:00:00Z")
		}
		*p.dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, malformed("since must be before until")
	}
	return f, nil
}
