package pgtest

import (
	"context"
	"fmt"
	"syscall"
)

// The fault controls below stop and start single servers on their own ports, so the
// URLs stay valid. Stopping a stopped server and starting a running one are errors only
// for start.

// StopReplica stops replica i with a fast shutdown: open sessions are ended, new
// connections are refused.
func (c *Cluster) StopReplica(i int) error {
	n, err := c.replica(i)
	if err != nil {
		return err
	}
	return n.stop(syscall.SIGINT)
}

// KillReplica kills every process of replica i at once, as a crash of its machine would.
func (c *Cluster) KillReplica(i int) error {
	n, err := c.replica(i)
	if err != nil {
		return err
	}
	return n.stop(syscall.SIGKILL)
}

// StartReplica starts a stopped replica i again and waits until it is readable. It does
// not wait until the replica has caught up: call WaitReplicated for that.
func (c *Cluster) StartReplica(ctx context.Context, i int) error {
	n, err := c.replica(i)
	if err != nil {
		return err
	}
	return n.start(ctx)
}

// StopPrimary stops the primary with a fast shutdown; the replicas stay readable and
// keep trying to reconnect.
func (c *Cluster) StopPrimary() error { return c.primary.stop(syscall.SIGINT) }

// StartPrimary starts the stopped primary again; the replicas reconnect by themselves.
func (c *Cluster) StartPrimary(ctx context.Context) error { return c.primary.start(ctx) }

func (c *Cluster) replica(i int) (*node, error) {
	if i < 0 || i >= len(c.replicas) {
		return nil, fmt.Errorf("pgtest: no replica %d (cluster has %d)", i, len(c.replicas))
	}
	return c.replicas[i], nil
}
