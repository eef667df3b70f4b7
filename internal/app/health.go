package app

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/store"
)

// phase is where a server is in its life; only phaseReady takes traffic.
type phase int32

const (
	phaseStarting phase = iota
	phaseReady
	phaseShuttingDown
)

func (p phase) String() string {
	switch p {
	case phaseReady:
		return "ready"
	case phaseShuttingDown:
		return "shutting_down"
	}
	return "starting"
}

// healthCheckTimeout bounds the database checks of one /readyz call.
const healthCheckTimeout = 2 * time.Second

// natsUnreadyAfter is how long NATS may be down (disconnected, or JetStream not
// answering) before a process that serves sign-ins reports itself unready. Shorter
// outages (a server restart, a leader election; the client reconnects from 250ms on)
// stay "degraded" so that readiness does not flap; longer ones take the process out of
// the load balancer, since no sign-in can complete without the KV.
const natsUnreadyAfter = 5 * time.Second

// health serves /healthz and /readyz.
type health struct {
	phase                 atomic.Int32
	role                  Role
	region, cluster, zone string
	databases             func(ctx context.Context) []store.DBHealth
	nats                  func(ctx context.Context) natsHealth // nil: the role runs without NATS
	// loginNeedsNATS: the login surface is mounted, and NATS down for natsUnreadyAfter
	// makes the process unready (see readyz).
	loginNeedsNATS bool
	// mode is the admin API's read-only mode (readonly.Mode.State); nil: always normal.
	mode func() (mode, reason string, since time.Time)
	// commands is the command publisher's state (roles all, login); nil without one.
	// A non-empty spool is "degraded", never unready (see spoolEntry).
	commands func() bus.Stats
	// fallback is the KV fallback's state (kvfallback.go); nil without one. While it is
	// in use the process is "degraded", never unready for NATS alone.
	fallback func() *kvFallbackHealth
	now      func() time.Time // nil: time.Now
}

func (h *health) set(p phase) { h.phase.Store(int32(p)) }

// readiness is the /readyz body. Mode and ReadOnly are there so a later read-only mode
// (primary down: serve reads, refuse writes with 503) can report itself without a
// format change.
type readiness struct {
	Status    string           `json:"status"` // ready, degraded, starting, shutting_down, unavailable
	Role      Role             `json:"role"`
	Region    string           `json:"region"`
	Cluster   string           `json:"cluster"`
	Zone      string           `json:"zone"`
	Mode      string           `json:"mode"` // "normal" or "read_only" (admin writes refused, reads served)
	ReadOnly  bool             `json:"read_only"`
	ModeWhy   string           `json:"mode_reason,omitempty"`
	ModeSince *time.Time       `json:"mode_since,omitempty"`
	Databases []store.DBHealth `json:"databases"`
	NATS      *natsHealth      `json:"nats,omitempty"` // roles that use NATS
	// KVFallback: the login surface's state held in memory while NATS cannot be reached
	// (roles login, and all on an external NATS).
	KVFallback *kvFallbackHealth `json:"kv_fallback,omitempty"`
	Commands   *bus.Stats        `json:"commands,omitempty"` // roles that publish commands
}

func (h *health) mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
}

// healthz answers 200 while the process can answer at all (liveness).
func (h *health) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when this process should get traffic: it has started, is not
// shutting down, and at least one database it reads from is healthy (a dead replica is
// listed with its error, but costs no readiness while the others serve). NATS down is
// "degraded" at first; when the process serves sign-ins (loginNeedsNATS) and NATS has
// been down for natsUnreadyAfter, it is "unavailable" with 503: no sign-in can work
// without the KV, and a load balancer should send them to a process whose NATS works.
// The admin role, which serves no sign-ins, is at most degraded by it (and has no nats
// entry without NINES_NATS_URL).
func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	body := readiness{Role: h.role, Region: h.region, Cluster: h.cluster, Zone: h.zone, Mode: "normal",
		Databases: []store.DBHealth{}}
	if h.mode != nil { // read-only mode keeps the process ready: it still serves reads
		mode, why, since := h.mode()
		body.Mode, body.ReadOnly, body.ModeWhy, body.ModeSince = mode, mode == "read_only", why, &since
	}
	p := phase(h.phase.Load())
	code := http.StatusServiceUnavailable
	body.Status = p.String()
	if p == phaseReady {
		ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
		defer cancel()
		body.Databases = h.databases(ctx)
		healthy := 0
		for _, d := range body.Databases {
			if d.Healthy {
				healthy++
			}
		}
		natsOK, natsDown := true, false
		if h.nats != nil {
			nh := h.nats(ctx)
			body.NATS, natsOK = &nh, nh.healthy()
			natsDown = !natsOK && h.loginNeedsNATS && !nh.DownSince.IsZero() &&
				h.clock().Sub(nh.DownSince) >= natsUnreadyAfter
		}
		var spooled bool
		body.Commands, spooled = h.spoolEntry()
		if h.fallback != nil {
			body.KVFallback = h.fallback()
		}
		switch {
		case healthy == 0, natsDown:
			body.Status = "unavailable"
		case healthy < len(body.Databases) || !natsOK || spooled || body.KVFallback.degraded():
			body.Status, code = "degraded", http.StatusOK
		default:
			code = http.StatusOK
		}
	}
	writeJSON(w, code, body)
}

func (h *health) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
