package bus

import (
	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/spool"
)

// FullPolicy is what Publish does with a command that the broker did not take and the
// spool has no room for.
type FullPolicy int

const (
	// Drop loses the command: Publish counts it (Stats.Dropped), logs a warning (at most
	// one every dropLogEvery, with the count) and returns nil. Drop commands are
	// spooled at Normal priority: they stop short of the spool's reserve, which stays
	// free for Fail commands.
	Drop FullPolicy = iota + 1
	// Fail refuses the command: Publish returns ErrSpoolFull (Stats.Refused) and the
	// caller fails the request that issued it. Fail commands may use the whole spool.
	Fail
)

// fullPolicies is the policy of each command type; a type missing here is Fail (never
// lose a command by default).
var fullPolicies = map[string]FullPolicy{
	// Last sign-in time is best effort: the next sign-in writes it again.
	command.TypeSignedIn: Drop,
	// The stored hash still verifies; the next sign-in computes the new one again.
	command.TypePasswordRehashed: Drop,
	// Audit trail: a request that cannot be audited is refused rather than left out.
	command.TypeSignInFailed: Fail,
	command.TypeAuditEvent:   Fail,
}

// PolicyFor is the full-spool policy of a command type.
func PolicyFor(typ string) FullPolicy {
	if p, ok := fullPolicies[typ]; ok {
		return p
	}
	return Fail
}

func (f FullPolicy) priority() spool.Priority {
	if f == Drop {
		return spool.Normal
	}
	return spool.High
}

func (f FullPolicy) String() string {
	switch f {
	case Drop:
		return "drop"
	case Fail:
		return "fail"
	}
	return "unknown"
}
