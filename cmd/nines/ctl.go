package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ninesid/nines/internal/apply"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ninesid/nines/internal/client"
)

// ctlCmd groups the operator's commands against a running deployment, each a client of
// the admin API.
type ctlCmd struct {
	Readonly readonlyCmd `cmd:"" name:"readonly" help:"Show the read-only mode, or switch it: 'nines ctl readonly on --reason …', 'nines ctl readonly off'. The admin API token is read from $$NINES_ADMIN_TOKEN."`
	Edge     edgeCmd     `cmd:"" name:"edge" help:"Traffic control of the edge: status, weights, shift, drain, failover, undo. The control token is read from $$NINES_EDGE_CONTROL_TOKEN."`
}

// readonlyCmd shows or switches the explicit read-only mode (PUT /admin/v1/readonly).
type readonlyCmd struct {
	Switch  string        `arg:"" optional:"" help:"on or off; without it, show the mode."`
	Reason  string        `name:"reason" help:"Why (shown in every refused write; at most 200 bytes)."`
	Server  string        `name:"server" env:"NINES_SERVER" default:"http://127.0.0.1:8080" help:"Base URL of the nines admin API."`
	Timeout time.Duration `name:"timeout" default:"10s" help:"Give up on the server after this long."`
}

// ctlUsageError marks a command-line mistake found when running: run exits 2 for it.
type ctlUsageError struct{ msg string }

func (e ctlUsageError) Error() string { return e.msg }

func (c *readonlyCmd) Validate() error {
	switch {
	case c.Switch != "" && c.Switch != "on" && c.Switch != "off":
		return fmt.Errorf("readonly: %q: want on, off, or nothing to show the mode", c.Switch)
	case c.Reason != "" && c.Switch != "on":
		return errors.New("readonly: --reason goes with 'on'")
	case len(c.Reason) > 200:
		return errors.New("readonly: --reason: at most 200 bytes")
	}
	return nil
}

// readOnlyState is the answer of GET and PUT /admin/v1/readonly.
type readOnlyState struct {
	Mode     string    `json:"mode"`
	ReadOnly bool      `json:"read_only"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
	Explicit struct {
		Enabled bool      `json:"enabled"`
		Reason  string    `json:"reason"`
		By      string    `json:"by"`
		At      time.Time `json:"at"`
	} `json:"explicit"`
	Automatic bool `json:"automatic"`
	Shared    bool `json:"shared"`
}

// Run takes the token from NINES_ADMIN_TOKEN only, like apply.
func (c *readonlyCmd) Run(ctx context.Context, s streams) error {
	base, err := ctlServer(c.Server)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(os.Getenv("NINES_ADMIN_TOKEN"))
	if token == "" {
		return ctlUsageError{"readonly: no admin token: set NINES_ADMIN_TOKEN (a global token)"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	method, body := http.MethodGet, []byte(nil)
	if c.Switch != "" {
		method = http.MethodPut
		body, _ = json.Marshal(map[string]any{"enabled": c.Switch == "on", "reason": c.Reason})
	}
	var st readOnlyState
	if err := ctlDo(ctx, method, base+"/admin/v1/readonly", token, body, &st); err != nil {
		return err
	}
	printReadOnly(s.stdout, st)
	if c.Switch == "off" && st.ReadOnly {
		fmt.Fprintln(s.stderr, "nines: the explicit switch is off, but nines stays read-only while the primary database is unreachable; it leaves read-only mode by itself when the primary is back")
	}
	return nil
}

func printReadOnly(w io.Writer, st readOnlyState) {
	fmt.Fprintf(w, "mode: %s (since %s)\n", st.Mode, st.Since.UTC().Format(time.RFC3339))
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	sw := "off"
	if st.Explicit.Enabled {
		sw = "on"
	}
	if st.Explicit.By != "" {
		sw += fmt.Sprintf(", set by %s at %s", st.Explicit.By, st.Explicit.At.UTC().Format(time.RFC3339))
	}
	scope := "this admin process only (no NATS)"
	if st.Shared {
		scope = "every admin process (NATS KV)"
	}
	fmt.Fprintf(w, "explicit switch: %s; holds for %s\n", sw, scope)
	fmt.Fprintf(w, "primary unreachable (automatic): %v\n", st.Automatic)
}

// ctlServer checks the server URL the way apply does: no credentials in it, and plain
// http only on loopback, since the admin token goes with every request.
func ctlServer(server string) (string, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return "", ctlUsageError{"--server must be an http(s) URL such as https://idp.example.com"}
	case u.User != nil:
		return "", ctlUsageError{"--server must not hold credentials; the token comes from NINES_ADMIN_TOKEN"}
	case u.Scheme == "http" && !client.IsLoopbackHost(u.Hostname()):
		return "", ctlUsageError{fmt.Sprintf("refusing to send the admin token in clear text to %s; use https", u.Host)}
	}
	return u.String(), nil
}

// ctlDo sends one admin API request and decodes a 200 answer into out; any other
// answer is an error naming the status and the server's problem detail.
func ctlDo(ctx context.Context, method, target, token string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := &http.Client{Timeout: apply.DefaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("readonly: %s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("readonly: %s %s: reading the answer: %w", method, target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Detail    string `json:"detail"`
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(raw, &p)
		msg := fmt.Sprintf("readonly: %s %s: HTTP %d", method, target, resp.StatusCode)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			msg += ": the server rejected the admin token; check NINES_ADMIN_TOKEN"
		case http.StatusForbidden:
			msg += ": the read-only switch needs a global admin token"
		case http.StatusNotFound:
			msg += ": this server has no read-only switch (an older version?)"
		}
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			msg += " (retry after " + ra + " s)"
		}
		if p.RequestID != "" {
			msg += " (request_id " + p.RequestID + ")"
		}
		return errors.New(msg)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("readonly: %s %s: the answer is not the read-only state: %w", method, target, err)
	}
	return nil
}
