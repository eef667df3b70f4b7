package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// SupervisorLog is the detached supervisor's output, in the lab directory.
const SupervisorLog = "supervisor.log"

// SupervisorFlag is the hidden `lab up` flag that makes the process the detached
// supervisor of a directory Prepare made (Detach passes it).
const SupervisorFlag = "--supervisor"

// Detach is `lab up --detach`: it prepares the directory, starts
// `nines lab up -f FILE --dir DIR --supervisor` in a session of its own (it outlives
// this process and the terminal; its output goes to DIR/supervisor.log), and waits
// until the lab is ready, the supervisor exits, or ctx ends (then it stops the
// supervisor, which stops what it started). The supervisor keeps Toxiproxy and the
// control API serving and writes its PID as State.SupervisorP; `lab down` sends it
// SIGTERM.
func Detach(ctx context.Context, opts Options) (State, error) {
	if err := normalize(&opts); err != nil {
		return State{}, err
	}
	if _, err := LoadTopology(opts.Topology); err != nil { // report a bad file here, not in a log
		return State{}, err
	}
	if err := Prepare(opts.Dir, opts.Out); err != nil {
		return State{}, err
	}
	logPath := filepath.Join(opts.Dir, SupervisorLog)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return State{}, fmt.Errorf("lab: %w", err)
	}
	cmd := exec.Command(opts.Binary, "lab", "up", "-f", opts.Topology, "--dir", opts.Dir, SupervisorFlag)
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no Pdeathsig: it must outlive us
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return State{}, fmt.Errorf("lab: start the supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(opts.Out, "lab: supervisor started (pid %d); its output: %s\n", cmd.Process.Pid, logPath)

	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	stop := func(why error) (State, error) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(supervisorStopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		return State{}, errors.Join(why, fmt.Errorf("lab: end of %s:\n%s", logPath, tailFile(logPath, logTailLines)))
	}
	for {
		select {
		case err := <-exited:
			return State{}, fmt.Errorf("lab: the supervisor exited (%v) before the lab was ready; end of %s:\n%s",
				err, logPath, tailFile(logPath, logTailLines))
		case <-ctx.Done():
			return stop(fmt.Errorf("lab: interrupted: %w", context.Cause(ctx)))
		case <-deadline.C:
			return stop(fmt.Errorf("lab: not ready after %v", StartTimeout))
		case <-tick.C:
		}
		if st, err := ReadState(opts.Dir); err == nil && st.Status == StatusReady && st.SupervisorP == cmd.Process.Pid {
			return st, nil
		}
	}
}
