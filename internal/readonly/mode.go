package readonly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/store"
)

// The modes State reports; /readyz shows them as they are.
const (
	Normal   = "normal"
	ReadOnly = "read_only"
)

// ControlSuffix names the control bucket after the KV prefix (nines_control), and
// SwitchKey is the explicit switch's key in it.
const (
	ControlSuffix = "control"
	SwitchKey     = "readonly"
)

// Defaults of Config.
const (
	DefaultEnterAfter = time.Second
	DefaultLeaveAfter = 3 * time.Second
	DefaultInterval   = 250 * time.Millisecond
	// MaxReasonLen bounds an operator's reason: it is shown to every admin client.
	MaxReasonLen = 200
)

// Switch is the explicit switch as an operator last set it.
type Switch struct {
	Enabled bool      `json:"enabled"`
	Reason  string    `json:"reason,omitempty"`
	By      string    `json:"by,omitempty"` // who: the admin token's name and ID
	At      time.Time `json:"at,omitzero"`
}

// Status is the whole state: the mode, and which of the two causes holds.
type Status struct {
	Mode   string    `json:"mode"` // Normal or ReadOnly
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Explicit is the operator's switch; Automatic is true while the primary is (or has
	// not yet been long enough) back from being unreachable.
	Explicit  Switch `json:"explicit"`
	Automatic bool   `json:"automatic"`
	// Shared: the explicit switch is in the NATS KV, shared by every admin process;
	// false: in this process's memory only.
	Shared bool `json:"shared"`
}

// ReadOnly reports whether writes are refused.
func (s Status) ReadOnly() bool { return s.Mode == ReadOnly }

// Config configures New. Every field is optional.
type Config struct {
	// Control holds the explicit switch (key SwitchKey), shared by every process that
	// opens the same bucket; nil: in memory, for this process only.
	Control kv.Bucket
	// PrimaryHealthy reports the primary's state as the backend's prober last saw it (it
	// must not block); nil: never read-only automatically (the embedded SQLite).
	PrimaryHealthy func() bool
	EnterAfter     time.Duration // primary down this long: read-only; 0: DefaultEnterAfter
	LeaveAfter     time.Duration // primary healthy this long: back to normal; 0: DefaultLeaveAfter
	Interval       time.Duration // how often Run looks; 0: DefaultInterval
	Logger         *slog.Logger
	Now            func() time.Time
}

// PrimaryHealthy adapts a backend's health report (it must not block, as
// postgres.Backend.Health does not) to Config.PrimaryHealthy: the primary is healthy
// when an entry of role "primary" says so.
func PrimaryHealthy(health func(context.Context) []store.DBHealth) func() bool {
	return func() bool {
		for _, h := range health(context.Background()) {
			if h.Role == "primary" {
				return h.Healthy
			}
		}
		return false
	}
}

// Mode is the read-only mode of one process. Create it with New and keep it current
// with Run; State and Status never block.
type Mode struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	explicit  Switch
	downSince time.Time // primary first seen down, zero while up
	upSince   time.Time // primary first seen up again while automatic
	automatic bool
	since     time.Time // when the mode last changed
	mode      string
	kvFailed  bool // the last read of the control key failed (logged once)
}

// New returns a Mode in normal mode.
func New(cfg Config) *Mode {
	if cfg.EnterAfter <= 0 {
		cfg.EnterAfter = DefaultEnterAfter
	}
	if cfg.LeaveAfter <= 0 {
		cfg.LeaveAfter = DefaultLeaveAfter
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Mode{cfg: cfg, log: cfg.Logger, mode: Normal, since: cfg.Now().UTC()}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m
}

// State is the mode ("normal" or "read_only"), why, and since when.
func (m *Mode) State() (mode, reason string, since time.Time) {
	s := m.Status()
	return s.Mode, s.Reason, s.Since
}

// Status is the whole state.
func (m *Mode) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Mode: m.mode, Since: m.since, Explicit: m.explicit, Automatic: m.automatic, Shared: m.cfg.Control != nil}
	switch {
	case m.explicit.Enabled:
		s.Reason = "switched on by an operator"
		if m.explicit.Reason != "" {
			s.Reason += ": " + m.explicit.Reason
		}
	case m.automatic:
		s.Reason = "the primary database is unreachable"
	}
	return s
}

// Run keeps the mode current until ctx ends: it looks at the primary's health and (with
// a control bucket) at the shared switch every Interval.
func (m *Mode) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh looks once at the shared switch and the primary's health. Run calls it every
// Interval; tests call it directly.
func (m *Mode) Refresh(ctx context.Context) {
	if m.cfg.Control != nil {
		sw, err := m.load(ctx)
		m.mu.Lock()
		switch {
		case err != nil && !m.kvFailed:
			m.kvFailed = true
			m.log.Warn("read-only mode: cannot read the shared switch; keeping the last known state", "error", err.Error())
		case err == nil:
			if m.kvFailed {
				m.log.Info("read-only mode: shared switch readable again")
			}
			m.kvFailed = false
			m.setExplicit(sw)
		}
		m.mu.Unlock()
	}
	if m.cfg.PrimaryHealthy != nil {
		m.observe(m.cfg.PrimaryHealthy(), m.cfg.Now())
	}
}

// observe records one look at the primary's health at now.
func (m *Mode) observe(healthy bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if healthy {
		m.downSince = time.Time{}
		if !m.automatic {
			return
		}
		if m.upSince.IsZero() {
			m.upSince = now
		}
		if now.Sub(m.upSince) >= m.cfg.LeaveAfter {
			m.automatic, m.upSince = false, time.Time{}
			m.log.Info("read-only mode: primary healthy again; automatic read-only mode ends")
			m.update(now)
		}
		return
	}
	m.upSince = time.Time{}
	if m.downSince.IsZero() {
		m.downSince = now
	}
	if !m.automatic && now.Sub(m.downSince) >= m.cfg.EnterAfter {
		m.automatic = true
		m.log.Warn("read-only mode: primary unreachable; admin writes are refused", "down_since", m.downSince.UTC())
		m.update(now)
	}
}

// Set turns the explicit switch on or off. With a control bucket the switch is written
// there first (every admin process picks it up within Interval) and an error leaves the
// mode as it was.
func (m *Mode) Set(ctx context.Context, enabled bool, reason, by string) (Status, error) {
	if len(reason) > MaxReasonLen {
		return Status{}, fmt.Errorf("readonly: reason longer than %d bytes", MaxReasonLen)
	}
	sw := Switch{Enabled: enabled, Reason: reason, By: by, At: m.cfg.Now().UTC().Truncate(time.Millisecond)}
	if m.cfg.Control != nil {
		b, err := json.Marshal(sw)
		if err != nil {
			return Status{}, err
		}
		if _, err := m.cfg.Control.Put(ctx, SwitchKey, b); err != nil {
			return Status{}, fmt.Errorf("readonly: store the switch: %w", err)
		}
	}
	m.mu.Lock()
	m.setExplicit(sw)
	m.mu.Unlock()
	m.log.Warn("read-only mode: switched by an operator", "enabled", enabled, "reason", reason, "by", by)
	return m.Status(), nil
}

// load reads the shared switch; no key is the switch off.
func (m *Mode) load(ctx context.Context) (Switch, error) {
	e, err := m.cfg.Control.Get(ctx, SwitchKey)
	if errors.Is(err, kv.ErrNotFound) {
		return Switch{}, nil
	}
	if err != nil {
		return Switch{}, err
	}
	var sw Switch
	if err := json.Unmarshal(e.Value, &sw); err != nil {
		return Switch{}, fmt.Errorf("readonly: decode the switch: %w", err)
	}
	return sw, nil
}

// setExplicit takes sw as the switch; m.mu is held.
func (m *Mode) setExplicit(sw Switch) {
	if sw == m.explicit {
		return
	}
	m.explicit = sw
	m.update(m.cfg.Now())
}

// update recomputes the mode after a cause changed; m.mu is held.
func (m *Mode) update(now time.Time) {
	mode := Normal
	if m.explicit.Enabled || m.automatic {
		mode = ReadOnly
	}
	if mode != m.mode {
		m.mode, m.since = mode, now.UTC()
	}
}
