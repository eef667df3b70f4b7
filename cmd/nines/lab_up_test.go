package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/lab"
)

// TestLabUpDown runs the real `nines lab up --detach` / `nines lab down` of the built
// binary on examples/lab/ci.yaml (one region, two login clusters of one process each,
// a PostgreSQL primary and replica, three NATS members, admin, worker, edge) and checks
// what README "Running the lab" promises: everything ready and reached through
// proxies; a real OIDC sign-in through the edge; a Toxiproxy toxic on one login
// process's proxy that makes requests through it hang; the control API restarting a
// killed process; a supervisor killed with SIGKILL whose leftovers the next `up`
// cleans (and only its own); `down` leaving no process and no directory.
func TestLabUpDown(t *testing.T) {
	bin := binary(t)
	base, err := os.MkdirTemp("", "nines-lab-test-")
	if err != nil {
		t.Fatal(err)
	}
	// The postgres user (PostgreSQL refuses root) must reach the data directories below.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "lab")
	t.Cleanup(func() { labTestCleanup(t, bin, dir, base) })
	topo, err := filepath.Abs(filepath.Join("..", "..", "examples", "lab", "ci.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	out := runLab(t, bin, 4*time.Minute, "up", "-f", topo, "--dir", dir, "--detach")
	t.Logf("lab up --detach: %v", time.Since(began).Round(time.Millisecond))
	if !strings.Contains(out, "10 processes (10 running)") || !strings.Contains(out, "memory:") {
		t.Errorf("lab up printed:\n%s", out)
	}
	st := readyState(t, dir)
	checkProxied(t, st)

	// A real sign-in through the edge, with go-oidc and oauth2.
	user := st.Users[0]
	if _, err := labSignIn(t.Context(), st, st.Regions[0].Issuer, user.Username, user.Password); err != nil {
		t.Fatalf("sign-in through the edge: %v", err)
	}

	// A timeout toxic on login-a's proxy: requests through it hang until it is removed.
	loginURL := st.Regions[0].Clusters[0].LoginURL[0]
	proxy := proxyNamed(t, st, strings.TrimPrefix(loginURL, "http://"))
	tc := toxiclient.NewClient(st.Toxiproxy)
	tp, err := tc.Proxy(proxy.Name)
	if err != nil {
		t.Fatal(err)
	}
	short := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if code, err := getStatus(short, loginURL+"/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("through %s before the toxic: %d %v", proxy.Name, code, err)
	}
	if _, err := tp.AddToxic("stall", "timeout", "downstream", 1, toxiclient.Attributes{"timeout": 0}); err != nil {
		t.Fatal(err)
	}
	if code, err := getStatus(short, loginURL+"/readyz"); err == nil {
		t.Errorf("through %s with a timeout toxic: %d, want no answer", proxy.Name, code)
	}
	if err := tp.RemoveToxic("stall"); err != nil {
		t.Fatal(err)
	}
	if code, err := getStatus(short, loginURL+"/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("through %s after the toxic: %d %v", proxy.Name, code, err)
	}

	// The control API: kill a login process, start it again with the same settings.
	victim := st.Processes[indexOf(st, "login-b-ci-a")]
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if p, err := lab.KillProcess(ctx, st, victim.Name); err != nil || p.PID != 0 || pidAlive(victim.PID) {
		t.Fatalf("kill %s: %+v %v (pid %d alive: %v)", victim.Name, p, err, victim.PID, pidAlive(victim.PID))
	}
	p, err := lab.StartProcess(ctx, st, victim.Name)
	if err != nil || p.PID == 0 || p.PID == victim.PID {
		t.Fatalf("start %s: %+v %v", victim.Name, p, err)
	}
	if code, err := getStatus(short, p.Ready); err != nil || code != http.StatusOK {
		t.Fatalf("%s after its restart: %d %v", victim.Name, code, err)
	}

	// A crash: SIGKILL the supervisor. Its children die with it (parent-death signal);
	// a process that did not (planted: it carries the lab's NINESLAB_DIR) is stopped by
	// the next `up`, which must leave alone a PID in the state that is not the lab's.
	st = readyState(t, dir)
	if err := syscall.Kill(st.SupervisorP, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ours, stranger := labSleeper(t, "NINESLAB_DIR="+dir), labSleeper(t)
	crashed := st
	crashed.Processes = append(crashed.Processes,
		lab.Process{Name: "leftover", Kind: lab.KindLogin, PID: ours},
		lab.Process{Name: "reused-pid", Kind: lab.KindLogin, PID: stranger})
	if err := waitFor(10*time.Second, func() bool { return !pidAlive(st.SupervisorP) }); err != nil {
		t.Fatalf("the supervisor survived SIGKILL: %v", err)
	}
	if err := lab.WriteState(crashed); err != nil { // as the dead supervisor left it, plus the plants
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "leftover.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	out = runLab(t, bin, 4*time.Minute, "up", "-f", topo, "--dir", dir, "--detach")
	t.Logf("lab up --detach after a crash: %v", time.Since(began).Round(time.Millisecond))
	if !strings.Contains(out, "did not stop cleanly") || !strings.Contains(out, "leftover") {
		t.Errorf("the second up did not report the cleaning:\n%s", out)
	}
	if pidAlive(ours) {
		t.Error("the crashed lab's leftover process survived the next up")
	}
	if !pidAlive(stranger) {
		t.Error("the next up stopped a process that was not the lab's")
	}
	if _, err := os.Stat(filepath.Join(dir, "leftover.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed lab's files survived: %v", err)
	}
	for _, p := range st.Processes {
		if pidAlive(p.PID) {
			t.Errorf("%s of the crashed lab (pid %d) still runs", p.Name, p.PID)
		}
	}
	st2 := readyState(t, dir)
	if st2.SupervisorP == st.SupervisorP {
		t.Fatal("the second up reports the dead supervisor")
	}
	if _, err := labSignIn(t.Context(), st2, st2.Regions[0].Issuer, st2.Users[1].Username, st2.Users[1].Password); err != nil {
		t.Fatalf("sign-in on the second lab: %v", err)
	}

	// down: every PID gone, the directory removed.
	began = time.Now()
	out = runLab(t, bin, 3*time.Minute, "down", "--dir", dir)
	t.Logf("lab down: %v", time.Since(began).Round(time.Millisecond))
	for _, p := range append(st2.Processes, lab.Process{Name: "supervisor", PID: st2.SupervisorP}) {
		if pidAlive(p.PID) {
			t.Errorf("%s (pid %d) still runs after down", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down left %s (%v); it printed:\n%s", dir, err, out)
	}
	for _, db := range st2.Databases {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.Split(db.URL, "/")[2], "postgres@"), time.Second); err == nil {
			c.Close()
			t.Errorf("PostgreSQL %s still accepts connections after down", db.Name)
		}
	}
}

// runLab runs `nines lab ARGS…` to completion and fails the test if it fails.
func runLab(t *testing.T, bin string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"lab"}, args...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nines lab %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readyState reads the lab's State and checks that it is ready: every process runs and
// answers its readiness probe.
func readyState(t *testing.T, dir string) lab.State {
	t.Helper()
	st, err := lab.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lab.StatusReady || !pidAlive(st.SupervisorP) || len(st.Users) != 3 || st.Client.Secret == "" ||
		!strings.HasPrefix(st.Client.RedirectURI, "http://127.0.0.1:") {
		t.Fatalf("state: status %q, supervisor %d, %d users, client %q", st.Status, st.SupervisorP, len(st.Users), st.Client.ID)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, p := range st.Processes {
		if p.PID == 0 || !pidAlive(p.PID) {
			t.Errorf("%s is not running (pid %d)", p.Name, p.PID)
		}
		if p.Ready != "" {
			if code, err := getStatus(hc, p.Ready); err != nil || code != http.StatusOK {
				t.Errorf("%s %s: %d %v", p.Name, p.Ready, code, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return st
}

// checkProxied: every login process is given only proxy addresses for its replicas
// and NATS (read from its environment), and the edge's backends are proxies.
func checkProxied(t *testing.T, st lab.State) {
	t.Helper()
	listen := map[string]lab.Proxy{}
	for _, p := range st.Proxies {
		listen[p.Listen] = p
	}
	logins := 0
	for _, p := range st.Processes {
		if p.Kind != lab.KindLogin {
			continue
		}
		logins++
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID))
		if err != nil {
			t.Fatal(err)
		}
		addrs := 0
		for _, kv := range strings.Split(string(env), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			if k != "NINES_REPLICA_URLS" && k != "NINES_NATS_URL" {
				continue
			}
			for _, u := range strings.Split(v, ",") {
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				x, ok := listen[pu.Host]
				if !ok || x.From != lab.KindLogin || x.FromZone != p.Zone || x.Zone == "" {
					t.Errorf("%s %s: %s is not a zone-labelled proxy from its zone", p.Name, k, pu.Host)
				}
				addrs++
			}
		}
		if addrs != 4 { // one replica, three NATS members
			t.Errorf("%s is given %d replica and NATS addresses, want 4", p.Name, addrs)
		}
	}
	for _, r := range st.Regions {
		for _, c := range r.Clusters {
			for _, u := range c.LoginURL {
				if x, ok := listen[strings.TrimPrefix(u, "http://")]; !ok || x.To != lab.KindLogin || x.Zone == "" {
					t.Errorf("cluster %s backend %s is not a proxy to a login process", c.Name, u)
				}
			}
		}
	}
	if logins != 2 {
		t.Errorf("%d login processes, want 2", logins)
	}
}

func proxyNamed(t *testing.T, st lab.State, listen string) lab.Proxy {
	t.Helper()
	for _, p := range st.Proxies {
		if p.Listen == listen {
			return p
		}
	}
	t.Fatalf("no proxy listens on %s", listen)
	return lab.Proxy{}
}

func indexOf(st lab.State, name string) int {
	for i, p := range st.Processes {
		if p.Name == name {
			return i
		}
	}
	panic("no process " + name)
}

func getStatus(hc *http.Client, u string) (int, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// pidAlive reports whether pid runs (a zombie does not).
func pidAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// labSleeper starts `sleep 300` with env, stopped in cleanup; it returns its PID.
func labSleeper(t *testing.T, env ...string) int {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "300")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd.Process.Pid
}

// labTestCleanup stops whatever the test left running (a failed test): `lab down`, then
// SIGKILL to every process group the last State names, then the directories.
func labTestCleanup(t *testing.T, bin, dir, base string) {
	if st, err := lab.ReadState(dir); err == nil {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, lab.SupervisorLog)); err == nil {
				t.Logf("supervisor log:\n%s", b)
			}
		}
		cmd := exec.Command(bin, "lab", "down", "--dir", dir)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cleanup: nines lab down: %v\n%s", err, out)
		}
		for _, p := range append(st.Processes, lab.Process{PID: st.SupervisorP}) {
			if pidAlive(p.PID) {
				t.Errorf("cleanup: %s (pid %d) still ran; killed", p.Name, p.PID)
				_ = syscall.Kill(-p.PID, syscall.SIGKILL)
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
	}
	if err := os.RemoveAll(base); err != nil {
		t.Error(err)
	}
}

var (
	labFormAction  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	labHiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// labSignIn is a relying party and a browser: the code flow with PKCE against issuer,
// the hosted login form, the code redeemed at the token endpoint and the ID token
// verified. The browser stops at the redirect to the (unserved) redirect URI.
func labSignIn(ctx context.Context, st lab.State, issuer, username, password string) (*gooidc.IDToken, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ctx = gooidc.ClientContext(ctx, &http.Client{Timeout: 20 * time.Second})
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	conf := oauth2.Config{ClientID: st.Client.ID, ClientSecret: st.Client.Secret, Endpoint: provider.Endpoint(),
		RedirectURL: st.Client.RedirectURI, Scopes: []string{gooidc.ScopeOpenID}}
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), st.Client.RedirectURI) {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		return nil
	}}
	resp, err := browser.Get(conf.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	m := labFormAction.FindStringSubmatch(string(body))
	if resp.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("authorize: %d, no login form: %.300s", resp.StatusCode, body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, err
	}
	form := url.Values{"login": {username}, "password": {password}}
	for _, h := range labHiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, err = browser.PostForm(action.String(), form)
	if err != nil {
		return nil, err
	}
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), st.Client.RedirectURI+"?") {
		return nil, fmt.Errorf("after the login form: %d Location %q: %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	q := loc.Query()
	if q.Get("state") != state || q.Get("iss") != issuer || q.Get("code") == "" {
		return nil, fmt.Errorf("callback %v: want a code, state %q and iss %q", q, state, issuer)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&gooidc.Config{ClientID: st.Client.ID}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != nonce {
		return nil, fmt.Errorf("ID token nonce %q, want %q", idt.Nonce, nonce)
	}
	return idt, nil
}
