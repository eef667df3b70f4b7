package proc

import "syscall"

// sysProcAttr gives the child its own process group (Kill reaches whatever it starts)
// and SIGKILL when the thread that started it ends (launch keeps that thread for the
// child's lifetime), so a parent that dies leaves no child behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to the process group whose leader is pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// terminate sends SIGTERM to pid alone: the program decides what its children get.
func terminate(pid int) { _ = syscall.Kill(pid, syscall.SIGTERM) }
