//go:build !unix

package proc

import (
	"os"
	"syscall"
)

// Without process groups or signals, Kill ends the child alone and Stop can only kill.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func terminate(pid int) { killGroup(pid) }
