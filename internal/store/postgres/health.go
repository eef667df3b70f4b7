package postgres

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ninesid/nines/internal/store"
)

// health is one server's up/down state, with the time it last changed. Every change is
// logged once.
type health struct {
	name   string // host:port, never credentials
	role   string // "primary" or "replica"
	secret string // the URL's password, scrubbed from error texts; may be empty
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	checked bool      // false until the first set
	failed  time.Time // the last failure (monotonic clock)
	state   store.DBHealth
}

func newHealth(name, role, secret string, log *slog.Logger, now func() time.Time) *health {
	h := &health{name: name, role: role, secret: secret, log: log, now: now}
	h.state = store.DBHealth{Name: name, Role: role, Error: "not checked yet", Since: now().UTC()}
	return h
}

// set records the outcome of a check or a read that began at began: err nil means up.
// A success that began before the last failure is stale (a probe that passed just
// before the server died, reported after a read saw it die) and is ignored. It reports
// whether the state changed.
func (h *health) set(err error, began time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	up := err == nil
	if up && began.Before(h.failed) {
		return false
	}
	if !up {
		h.failed = time.Now()
	}
	h.state.Error = ""
	if err != nil {
		h.state.Error = h.scrub(err.Error())
	}
	if h.checked && up == h.state.Healthy {
		return false
	}
	h.checked = true
	h.state.Healthy, h.state.Since = up, h.now().UTC()
	if up {
		h.log.Info("postgres: database up", "role", h.role, "database", h.name)
	} else {
		h.log.Warn("postgres: database down", "role", h.role, "database", h.name, "error", h.state.Error)
	}
	return true
}

func (h *health) healthy() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state.Healthy
}

func (h *health) report() store.DBHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// scrub removes the password from an error text. pgx does not put it there; this keeps
// it so if that ever changes.
func (h *health) scrub(s string) string {
	if h.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, h.secret, "[redacted]")
}
