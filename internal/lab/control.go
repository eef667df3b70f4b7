package lab

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The supervisor's process-control API (State.Control, bearer State.ControlToken), for
// chaos scenarios that kill a process and later start it again with the same
// configuration, which only the supervisor knows:
//
//	GET  /v1/processes                    every process with its current PID (0: not running)
//	POST /v1/processes/{name}/kill        SIGKILL to its process group (PostgreSQL: every backend)
//	POST /v1/processes/{name}/stop        SIGTERM (PostgreSQL: SIGINT, a fast shutdown), SIGKILL after 15 s
//	POST /v1/processes/{name}/start       start it again (same ports, data, environment) and wait until it is ready
//
// A process stopped through the API is not reported as a crash by the supervisor.
// Operations on one process run one at a time; operations on different processes run
// side by side (three NATS members killed together become ready only together: each
// start waits for a meta leader, which needs a second member).

func (s *supervisor) startControl() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("lab: control API: %w", err)
	}
	s.control = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/processes", s.listProcesses)
	mux.HandleFunc("POST /v1/processes/{name}/{action}", s.controlProcess)
	s.ctlSrv = &http.Server{Handler: s.authorize(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.ctlSrv.Serve(ln) }()
	return nil
}

func (s *supervisor) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.ctlTok)) != 1 {
			writeJSONError(w, http.StatusUnauthorized, "a bearer token (State.ControlToken) is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *supervisor) listProcesses(w http.ResponseWriter, _ *http.Request) {
	st := s.state()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st.Processes)
}

func (s *supervisor) controlProcess(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ready := s.ready
	c := s.p.byName[r.PathValue("name")]
	s.mu.Unlock()
	switch {
	case !ready:
		writeJSONError(w, http.StatusServiceUnavailable, "the lab is not ready yet")
		return
	case c == nil:
		writeJSONError(w, http.StatusNotFound, "no process named "+r.PathValue("name"))
		return
	}
	mu := s.ctlLock(c.Name)
	mu.Lock()
	defer mu.Unlock()
	var err error
	switch action := r.PathValue("action"); action {
	case "kill", "stop":
		s.mu.Lock()
		c.expectedStop = true
		s.mu.Unlock()
		shm := readPidFile(dataDirOf(c))
		if action == "kill" {
			err = c.child.kill()
		} else {
			err = c.child.stop()
		}
		if c.Kind == KindPostgres {
			removeShm(shm)
		}
	case "start":
		if c.child.pid() != 0 {
			writeJSONError(w, http.StatusConflict, c.Name+" is running")
			return
		}
		err = s.startComp(r.Context(), c, controlStartTimeout)
		if err == nil {
			s.mu.Lock()
			c.expectedStop = false
			c.loggedRuns = c.child.runCount()
			s.mu.Unlock()
		}
	default:
		writeJSONError(w, http.StatusNotFound, "actions: kill, stop, start")
		return
	}
	if werr := s.writeState(); werr != nil {
		err = errors.Join(err, werr)
	}
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	st := s.state()
	for _, p := range st.Processes {
		if p.Name == c.Name {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(p)
			return
		}
	}
}

// ctlLock is the lock of the control operations on the process called name.
func (s *supervisor) ctlLock(name string) *sync.Mutex {
	mu, _ := s.ctlMu.LoadOrStore(name, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

func dataDirOf(c *component) string {
	if c.pg == nil {
		return ""
	}
	return c.pg.dataDir
}

// KillProcess, StopProcess and StartProcess ask the supervisor of a running lab to
// kill, stop or start (again, waiting until it is ready) the process called name, and
// return its State entry afterwards.
func KillProcess(ctx context.Context, st State, name string) (Process, error) {
	return controlCall(ctx, st, name, "kill")
}

// StopProcess: see KillProcess.
func StopProcess(ctx context.Context, st State, name string) (Process, error) {
	return controlCall(ctx, st, name, "stop")
}

// StartProcess: see KillProcess.
func StartProcess(ctx context.Context, st State, name string) (Process, error) {
	return controlCall(ctx, st, name, "start")
}

func controlCall(ctx context.Context, st State, name, action string) (Process, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+st.Control+"/v1/processes/"+name+"/"+action, nil)
	if err != nil {
		return Process{}, err
	}
	req.Header.Set("Authorization", "Bearer "+st.ControlToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Process{}, fmt.Errorf("lab: %s %s: %w", action, name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Process{}, fmt.Errorf("lab: %s %s: %d %s", action, name, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var p Process
	if err := json.Unmarshal(body, &p); err != nil {
		return Process{}, fmt.Errorf("lab: %s %s: %w", action, name, err)
	}
	return p, nil
}
