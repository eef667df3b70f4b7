//go:build !unix

package spool

import (
	"fmt"
	"os"
)

// lockDir creates dir/LOCK; without flock, two processes are not kept apart here.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	return f, nil
}
