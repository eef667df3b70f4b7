//go:build unix && !linux

package proc

import "syscall"

// sysProcAttr gives the child its own process group (Kill reaches whatever it
// starts). Without Pdeathsig, a parent killed outright leaves the child running: the
// caller's Close is the only cleanup.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends SIGKILL to the process group whose leader is pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// terminate sends SIGTERM to pid alone.
func terminate(pid int) { _ = syscall.Kill(pid, syscall.SIGTERM) }
