package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ninesid/nines/internal/field"
	"github.com/ninesid/nines/internal/readonly"
)

// ReadOnlyMode is the read-only mode the API obeys and switches (*readonly.Mode).
type ReadOnlyMode interface {
	Status() readonly.Status
	Set(ctx context.Context, enabled bool, reason, by string) (readonly.Status, error)
}

var _ ReadOnlyMode = (*readonly.Mode)(nil)

// Retry-After of a write refused in read-only mode: an operator's switch is measured in
// minutes, an unreachable primary may be back in seconds.
const (
	retryAfterExplicit  = 30
	retryAfterAutomatic = 5
)

const readOnlyPath = "/admin/v1/readonly"

// offSwitch reports whether rt is the one write served in read-only mode: the switch
// itself, so that an operator can turn the mode off.
func offSwitch(rt route) bool { return rt.Path == readOnlyPath && rt.Method == http.MethodPut }

// readOnlyProblem is the answer to a write in read-only mode.
func readOnlyProblem(s readonly.Status) *problem {
	p := &problem{Type: typeReadOnly, Title: "Read-only mode", Status: http.StatusServiceUnavailable,
		retryAfter: retryAfterAutomatic,
		Detail:     "nines is in read-only mode (" + s.Reason + "); writes are refused, reads are served"}
	if s.Explicit.Enabled {
		p.retryAfter = retryAfterExplicit
	}
	return p
}

// readStore is where reads go in read-only mode: a healthy replica, else the primary
// (an explicit switch with every replica down still serves reads from the primary).
func (a *API) readStore() Store {
	if a.replica != nil {
		if st := a.replica(); st != nil {
			return st
		}
	}
	return a.store
}

// readOnlyJSON is the representation of the mode.
type readOnlyJSON struct {
	Mode      string          `json:"mode"`
	ReadOnly  bool            `json:"read_only"`
	Reason    string          `json:"reason,omitempty"`
	Since     time.Time       `json:"since"`
	Explicit  readonly.Switch `json:"explicit"`
	Automatic bool            `json:"automatic"`
	Shared    bool            `json:"shared"`
}

func toReadOnlyJSON(s readonly.Status) readOnlyJSON {
	return readOnlyJSON{Mode: s.Mode, ReadOnly: s.ReadOnly(), Reason: s.Reason, Since: s.Since,
		Explicit: s.Explicit, Automatic: s.Automatic, Shared: s.Shared}
}

func (a *API) getReadOnly(c *call) error {
	return writeJSON(c.w, http.StatusOK, toReadOnlyJSON(a.readOnly.Status()))
}

type readOnlySwitch struct {
	Enabled *bool  `json:"enabled"`
	Reason  string `json:"reason"`
}

// putReadOnly switches the explicit mode. It is served in read-only mode (offSwitch)
// and needs no database: the switch lives in the NATS KV or in memory.
func (a *API) putReadOnly(c *call) error {
	var in readOnlySwitch
	if err := decode(c.w, c.r, a.maxBody, &in, mediaJSON); err != nil {
		return err
	}
	var es field.Errors
	if in.Enabled == nil {
		es.Add("enabled", "is required: true or false")
	}
	if len(in.Reason) > readonly.MaxReasonLen {
		es.Add("reason", fmt.Sprintf("must be at most %d bytes", readonly.MaxReasonLen))
	}
	if err := es.Err(); err != nil {
		return err
	}
	by := "token " + c.token.Name + " (" + c.token.ID.String() + ")"
	s, err := a.readOnly.Set(c.r.Context(), *in.Enabled, in.Reason, by)
	if err != nil {
		a.log.ErrorContext(c.r.Context(), "admin: read-only switch failed", "error", err.Error())
		return &problem{Type: typeUnavailable, Title: "Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "the read-only switch could not be stored; retry shortly", retryAfter: retryAfterSeconds}
	}
	a.audit(c, "readonly")
	return writeJSON(c.w, http.StatusOK, toReadOnlyJSON(s))
}
