package postgres

import "time"

// Lag is a streaming replica's replay delay, as the prober measured it on the replica
// itself (it needs no primary, so the login tier, which has none, measures it too).
type Lag struct {
	Database string // host:port, never credentials
	// Known is false while the replica does not answer, is not a standby, or has
	// replayed no transaction since it started (pg_last_xact_replay_timestamp() is null).
	Known bool
	// Seconds is now() - pg_last_xact_replay_timestamp(): the age of the newest
	// transaction the replica replayed. It measures lag only while the primary commits:
	// on an idle primary it grows by one second a second although the replica is
	// current. ReplayBacklogBytes tells the two apart (0 while current), as long as the
	// replica still receives WAL.
	Seconds float64
	// ReplayBacklogBytes is WAL received and not yet replayed
	// (pg_last_wal_receive_lsn() - pg_last_wal_replay_lsn()). WAL the primary wrote but
	// did not send is not counted: comparing with the primary's pg_current_wal_lsn()
	// would need the primary.
	ReplayBacklogBytes float64
	At                 time.Time // when it was measured
}

// lags reports every replica's last measured lag, in configuration order.
func (r *router) lags() []Lag {
	out := make([]Lag, len(r.replicas))
	for i, rep := range r.replicas {
		if l := rep.lag.Load(); l != nil {
			out[i] = *l
		} else {
			out[i] = Lag{Database: rep.name}
		}
	}
	return out
}

// ReplicaLag reports every replica's replay lag as the prober last measured it; empty
// without replicas. It never queries a server.
func (b *Backend) ReplicaLag() []Lag {
	if b.router == nil {
		return nil
	}
	return b.router.lags()
}

// ReplicaLag reports every replica's replay lag as the prober last measured it. It never
// queries a server.
func (rs *Replicas) ReplicaLag() []Lag { return rs.router.lags() }
