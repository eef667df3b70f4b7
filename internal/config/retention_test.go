package config

import (
	"strings"
	"testing"
	"time"
)

func TestEventRetention(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want bool // valid
	}{{0, true}, {24 * time.Hour, true}, {2160 * time.Hour, true}, {90 * time.Second, false}, {-time.Hour, false}} {
		c := valid()
		c.EventRetention = tt.d
		err := c.Validate()
		if got := err == nil; got != tt.want {
			t.Errorf("EventRetention %v: Validate = %v, want valid %v", tt.d, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "NINES_EVENT_RETENTION") {
			t.Errorf("EventRetention %v: %v does not name the setting", tt.d, err)
		}
	}
}
