package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/lab"
)

// TestLabChaos is the CI run of `nines lab chaos` (issue 6 item 7): the built binary
// brings up examples/lab/ci.yaml and runs two scenarios under load, 45 s each at 10
// flows/s — primary-down (the PostgreSQL primary stopped for 15 s) and broker-down
// (all three NATS members SIGKILLed for 15 s) — then reads each scorecard and asserts
// what the issue asks: no command lost or doubled (every command the load saw issued is
// applied exactly once), the scenario's target (primary-down: no failed sign-in;
// broker-down: no lost command), every target of the card passing, and that the fault
// really happened (the processes were stopped and came back with new PIDs; admin writes
// were refused while the primary was down; sign-ins were issued while NATS was down, so
// the spool path was taken). The pair is the two scenarios whose targets hold by design
// at any rate: login-cluster-down's (under 0.05 % in the impact window) is missed by a
// single POST in flight on the killed cluster, which nothing can save, at any rate a CI
// machine can load (TestEdgeClusterKill scores that at 200 requests/s). The long runs on
// the default topology are documented commands (docs/lab/scorecards.md).
func TestLabChaos(t *testing.T) {
	bin := binary(t)
	base, err := os.MkdirTemp("", "nines-chaos-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil { // PostgreSQL runs as postgres
		t.Fatal(err)
	}
	dir := filepath.Join(base, "lab")
	t.Cleanup(func() { labTestCleanup(t, bin, dir, base) })
	topo, err := filepath.Abs(filepath.Join("..", "..", "examples", "lab", "ci.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runLab(t, bin, 4*time.Minute, "up", "-f", topo, "--dir", dir, "--detach")
	before := readyState(t, dir)

	tests := []struct {
		scenario string
		victims  func(lab.Process) bool
		check    func(t *testing.T, card lab.Scorecard, outcomes []lab.Outcome)
	}{
		{
			scenario: lab.ScenarioPrimaryDown,
			victims:  func(p lab.Process) bool { return p.Name == "pg-primary" },
			check: func(t *testing.T, card lab.Scorecard, _ []lab.Outcome) {
				if card.FailedSignIns != 0 {
					t.Errorf("%d failed sign-ins with the primary down, want 0", card.FailedSignIns)
				}
				// One admin write in ten, one a second: at least one fell in the 15 s and was
				// refused (read-only) — the primary really was down.
				if card.AdminFailed == 0 {
					t.Error("no admin request failed while the primary was stopped: was it?")
				}
			},
		},
		{
			scenario: lab.ScenarioBrokerDown,
			victims:  func(p lab.Process) bool { return p.Kind == lab.KindNATS },
			check: func(t *testing.T, card lab.Scorecard, outcomes []lab.Outcome) {
				// Sign-ins completed while every member was down: their commands went to the
				// login processes' spools, and the lost/duplicated checks cover them.
				during := 0
				start, end := card.StartedAt.Add(secs(card.Fault.StartS)), card.StartedAt.Add(secs(card.Fault.EndS))
				for _, o := range outcomes {
					if o.Flow == lab.FlowPassword && o.OK && o.Start.After(start.Add(time.Second)) && o.Start.Add(o.Latency).Before(end) {
						during++
					}
				}
				if during == 0 {
					t.Error("no password sign-in completed while NATS was down: the spool was not exercised")
				}
				t.Logf("%d password sign-ins completed while NATS was down", during)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			out := filepath.Join(base, "out-"+tt.scenario)
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "lab", "chaos", tt.scenario, "--duration", "45s", "--rate", "10",
				"--wait-commands", "60s", "--dir", dir, "--out", out)
			cmd.Env = cleanEnv()
			stdout, runErr := cmd.CombinedOutput()
			t.Logf("nines lab chaos %s:\n%s", tt.scenario, stdout)
			var exit *exec.ExitError
			if runErr != nil && !errors.As(runErr, &exit) {
				t.Fatalf("nines lab chaos: %v", runErr)
			}
			card, err := lab.ReadScorecard(filepath.Join(out, "scorecard.json"))
			if err != nil {
				t.Fatalf("no scorecard: %v", err)
			}
			var rep lab.ChaosReport
			if b, err := os.ReadFile(filepath.Join(out, "chaos.json")); err != nil || json.Unmarshal(b, &rep) != nil {
				t.Fatalf("no chaos.json: %v", err)
			}
			if png, err := os.ReadFile(filepath.Join(out, "chart.png")); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
				t.Errorf("chart.png: %v", err)
			}
			if (runErr == nil) != card.Pass {
				t.Errorf("exit status %v but the card's pass is %v", runErr, card.Pass)
			}

			// The fault happened as planned, for at least the fault phase.
			if card.Scenario != tt.scenario || card.Fault == nil || card.Fault.EndS-card.Fault.StartS < 14 {
				t.Fatalf("card: scenario %q, fault %+v; want %s with a fault of 15 s", card.Scenario, card.Fault, tt.scenario)
			}
			for _, tc := range card.Targets {
				if !tc.Pass {
					t.Errorf("target %q: want %s, got %s", tc.Name, tc.Want, tc.Got)
				}
			}
			killed := map[string]bool{}
			for _, a := range rep.Actions {
				for _, verb := range []string{"kill ", "stop "} {
					if name, ok := strings.CutPrefix(a.What, verb); ok && a.OK {
						killed[name] = true
					}
				}
			}
			after := readyState(t, dir) // every process runs and answers again
			for _, p := range before.Processes {
				if !tt.victims(p) {
					continue
				}
				if !killed[p.Name] {
					t.Errorf("%s was not stopped (actions: %+v)", p.Name, rep.Actions)
				}
				if now := after.Processes[indexOf(after, p.Name)]; now.PID == p.PID {
					t.Errorf("%s has the same PID %d after the scenario: it was not restarted", p.Name, p.PID)
				}
			}

			// Nothing lost, nothing doubled; every issued command applied exactly once.
			if !card.CommandsMeasured {
				t.Fatal("the commands were not counted")
			}
			if card.CommandsIssued == 0 || card.CommandsLost != 0 || card.CommandsDuplicated != 0 ||
				card.CommandsApplied < card.CommandsIssued || card.CommandsApplied > card.CommandsIssued+card.CommandsUncertain {
				t.Errorf("commands: issued %d (uncertain %d), applied %d, lost %d, duplicated %d", card.CommandsIssued,
					card.CommandsUncertain, card.CommandsApplied, card.CommandsLost, card.CommandsDuplicated)
			}
			if card.EndUserRequests < 400 { // 45 s at 10 flows/s
				t.Errorf("%d end-user requests, want 450", card.EndUserRequests)
			}
			tt.check(t, card, readOutcomes(t, filepath.Join(out, "outcomes.jsonl")))
			before = after
		})
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func readOutcomes(t *testing.T, path string) []lab.Outcome {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []lab.Outcome
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var o lab.Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLabChaosUsage: a scenario that does not exist or a split that leaves a phase too
// short is refused before anything runs.
func TestLabChaosUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"lab", "chaos", "meteor-strike"}, "meteor-strike"},
		{"bad split", []string{"lab", "chaos", "broker-down", "--split", "1:1"}, "before:fault:after"},
		{"no lab", []string{"lab", "chaos", "broker-down", "--dir", "/nonexistent/lab"}, "no running lab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := run(context.Background(), tt.args, &stdout, &stderr); code == 0 {
				t.Fatalf("exit 0, want a failure\nstdout:\n%s", &stdout)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, &stderr)
			}
		})
	}
}
