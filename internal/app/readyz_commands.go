package app

import "github.com/ninesid/nines/internal/bus"

// spoolEntry is the commands entry of /readyz and whether commands wait in the spool.
// A spool that holds commands makes the process "degraded", not unready: it is how a
// login process keeps signing users in while the broker is away (ARCHITECTURE.md §3),
// and taking it out of the load balancer would turn a broker outage into a sign-in
// outage. The entry shows the depth, the oldest command's age and the counters, so an
// operator sees the spool grow or drain.
func (h *health) spoolEntry() (*bus.Stats, bool) {
	if h.commands == nil {
		return nil, false
	}
	st := h.commands()
	return &st, st.Depth > 0
}
