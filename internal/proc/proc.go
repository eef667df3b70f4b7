package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultReadyTimeout = 60 * time.Second
	DefaultStopTimeout  = 20 * time.Second
	// readyPoll is the pause between two readiness requests; readyRequestTimeout
	// bounds one.
	readyPoll           = 100 * time.Millisecond
	readyRequestTimeout = 2 * time.Second
	// killWait bounds the wait for a child to exit after SIGKILL (the kernel has to
	// reap it; a process in uninterruptible sleep can take a moment).
	killWait = 10 * time.Second
	// outputWait bounds the copy of the output after the child exits: a grandchild
	// that kept the pipe open must not hold Wait forever.
	outputWait = 2 * time.Second
	// errorLines is how much of the output an error carries.
	errorLines = 30
)

// ErrRunning is returned by Restart while the previous run has not exited.
var ErrRunning = errors.New("proc: still running")

// Config is what to run. Only Path is required.
type Config struct {
	// Name names the process in errors and in the output's restart markers (default:
	// Path).
	Name string
	// Path is the program; Args its arguments (without the program name).
	Path string
	Args []string
	// Env is the child's whole environment, "KEY=value" entries. Nothing is inherited:
	// pass os.Environ() entries explicitly if the child needs them.
	Env []string
	// Dir is the child's working directory ("": the caller's).
	Dir string
	// ReadyURL is polled by WaitReady until it answers 200 (an http:// URL).
	ReadyURL string
	// ReadyTimeout bounds WaitReady (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// StopTimeout bounds Stop's wait after SIGTERM (default DefaultStopTimeout).
	StopTimeout time.Duration
	// OutputLimit bounds the combined stdout and stderr kept (default
	// DefaultOutputLimit); what does not fit is counted and left out.
	OutputLimit int
}

// Process is a child process and its later restarts. Its methods are safe for
// concurrent use.
type Process struct {
	cfg Config
	out *output

	mu   sync.Mutex
	cur  *run // the latest run
	runs int
}

// run is one start of the program.
type run struct {
	pid  int
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // Wait's error; read after done
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Start starts cfg.Path and returns once the child runs; it does not wait for
// readiness (WaitReady does). The caller must call Close (or Kill, or Stop) in every
// case, e.g. in t.Cleanup.
func Start(cfg Config) (*Process, error) {
	if cfg.Path == "" {
		return nil, errors.New("proc: Config.Path is required")
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Path
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	cfg.Args = append([]string(nil), cfg.Args...)
	cfg.Env = append([]string{}, cfg.Env...) // never nil: exec would inherit ours
	p := &Process{cfg: cfg, out: newOutput(cfg.OutputLimit)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.launch(); err != nil {
		return nil, err
	}
	return p, nil
}

// launch starts one run. p.mu is held.
func (p *Process) launch() error {
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env, cmd.Dir = p.cfg.Env, p.cfg.Dir
	cmd.Stdout, cmd.Stderr = p.out, p.out // one writer: exec gives the child one pipe for both
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = outputWait
	r := &run{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig is sent when the thread that forked the child ends, not the
		// process: this goroutine keeps its thread until the child has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		r.pid = cmd.Process.Pid
		started <- nil
		r.err = cmd.Wait()
		// Whatever the child left in its group dies with it.
		killGroup(r.pid)
		close(r.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("proc: start %s: %w", p.cfg.Name, err)
	}
	p.cur = r
	p.runs++
	return nil
}

// Name is Config.Name.
func (p *Process) Name() string { return p.cfg.Name }

// Config is the configuration the process was started with.
func (p *Process) Config() Config { return p.cfg }

// PID is the running child's process ID, 0 once it has exited.
func (p *Process) PID() int {
	r := p.current()
	if r.exited() {
		return 0
	}
	return r.pid
}

// Running reports whether the latest run has not exited yet.
func (p *Process) Running() bool { return !p.current().exited() }

// Done is closed when the latest run exits.
func (p *Process) Done() <-chan struct{} { return p.current().done }

// Err is the latest run's exit error (nil for exit status 0, an *exec.ExitError
// otherwise), or ErrRunning while it runs.
func (p *Process) Err() error {
	r := p.current()
	if !r.exited() {
		return ErrRunning
	}
	return r.err
}

// Output is the combined stdout and stderr of every run so far, bounded by
// Config.OutputLimit.
func (p *Process) Output() string { return p.out.String() }

// Runs is how many times the program was started (1 after Start).
func (p *Process) Runs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs
}

func (p *Process) current() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// WaitReady polls Config.ReadyURL until it answers 200, for at most
// Config.ReadyTimeout or until ctx ends. It fails at once if the child exits.
func (p *Process) WaitReady(ctx context.Context) error {
	if p.cfg.ReadyURL == "" {
		return fmt.Errorf("proc: %s has no ReadyURL", p.cfg.Name)
	}
	r := p.current()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: readyRequestTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.ReadyURL, nil)
		if err != nil {
			return fmt.Errorf("proc: %s: %w", p.cfg.Name, err)
		}
		if resp, err := hc.Do(req); err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		select {
		case <-r.done:
			return fmt.Errorf("proc: %s exited before it was ready (%v); last output:\n%s",
				p.cfg.Name, r.err, p.out.lastLines(errorLines))
		case <-ctx.Done():
			return fmt.Errorf("proc: %s not ready at %s: %w; last answer: %s; last output:\n%s",
				p.cfg.Name, p.cfg.ReadyURL, ctx.Err(), last, p.out.lastLines(errorLines))
		case <-time.After(readyPoll):
		}
	}
}

// Kill sends SIGKILL to the child's process group and waits until the child has
// exited. It returns nil if the child had already exited.
func (p *Process) Kill() error {
	r := p.current()
	if r.exited() {
		return nil
	}
	killGroup(r.pid)
	select {
	case <-r.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("proc: %s (pid %d) still running %v after SIGKILL", p.cfg.Name, r.pid, killWait)
	}
}

// Stop sends SIGTERM to the child and waits for it to exit, at most
// Config.StopTimeout; then it kills the process group and says so. It returns the
// child's exit error (nil for status 0), or nil if it had already exited.
func (p *Process) Stop() error {
	r := p.current()
	if r.exited() {
		return nil
	}
	terminate(r.pid)
	select {
	case <-r.done:
		if r.err != nil {
			return fmt.Errorf("proc: %s exited after SIGTERM: %w; last output:\n%s", p.cfg.Name, r.err,
				p.out.lastLines(errorLines))
		}
		return nil
	case <-time.After(p.cfg.StopTimeout):
	}
	kerr := p.Kill()
	return errors.Join(fmt.Errorf("proc: %s did not exit within %v of SIGTERM; killed; last output:\n%s",
		p.cfg.Name, p.cfg.StopTimeout, p.out.lastLines(errorLines)), kerr)
}

// Restart starts the program again with the same configuration (arguments,
// environment, directory) once the previous run has exited (ErrRunning otherwise). It
// does not wait for readiness. The output continues in the same buffer after a marker
// line.
func (p *Process) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cur.exited() {
		return fmt.Errorf("proc: restart %s: %w", p.cfg.Name, ErrRunning)
	}
	fmt.Fprintf(p.out, "\n=== proc: %s exited (%v); start #%d ===\n", p.cfg.Name, p.cur.err, p.runs+1)
	return p.launch()
}

// Close kills the child if it still runs (Kill). It is safe to call more than once
// and after Kill or Stop.
func (p *Process) Close() error { return p.Kill() }

// Run runs cfg to completion (ctx ending kills it) and returns its output and exit
// error: a one-shot command such as `nines migrate`.
func Run(ctx context.Context, cfg Config) (string, error) {
	p, err := Start(cfg)
	if err != nil {
		return "", err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		kerr := p.Kill()
		return p.Output(), errors.Join(fmt.Errorf("proc: %s: %w", cfg.Name, ctx.Err()), kerr)
	}
	return p.Output(), p.Err()
}
