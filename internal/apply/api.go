package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ninesid/nines/internal/field"
)

// api is a small client of the admin REST API (/admin/v1). It knows the wire format
// and nothing about plans.
type api struct {
	base  *url.URL // scheme://host[/prefix], no trailing slash
	token string
	hc    *http.Client
}

// maxResponse bounds a response body; the largest is one page of at most 500 users.
const maxResponse = 8 << 20

// apiError is a non-2xx answer, carrying the RFC 9457 problem the server sent.
type apiError struct {
	Method, Path string
	Status       int
	Problem      problemDoc
}

type problemDoc struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id"`
	Errors    field.Errors `json:"errors"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: HTTP %d", e.Method, e.Path, e.Status)
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString(": the server rejected the admin token; check NINES_ADMIN_TOKEN")
	case http.StatusForbidden:
		b.WriteString(": the admin token is not allowed to do this (a tenant-scoped token cannot create tenants or reach other tenants)")
	}
	if t := e.Problem.Title; t != "" {
		b.WriteString(": " + t)
	}
	if d := e.Problem.Detail; d != "" && d != e.Problem.Title {
		b.WriteString(": " + d)
	}
	for _, fe := range e.Problem.Errors {
		b.WriteString("; " + fe.Field + ": " + fe.Detail)
	}
	if e.Problem.RequestID != "" {
		b.WriteString(" (request_id " + e.Problem.RequestID + ")")
	}
	return b.String()
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// do sends one request. body, when not nil, is sent as JSON; out, when not nil,
// receives the JSON answer. The request body is never part of an error: it may hold a
// password.
func (a *api) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	target := a.base.String() + path // path segments are escaped by seg
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encoding the request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, redactURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(raw) > maxResponse {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		_ = json.Unmarshal(raw, &ae.Problem) // a non-problem body leaves the status alone
		if ae.Problem.Title == "" {
			ae.Problem.Title = http.StatusText(resp.StatusCode)
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer (HTTP %d): %w", method, path, resp.StatusCode, err)
	}
	return nil
}

// seg escapes one path segment (a slug, an ID).
func seg(s string) string { return url.PathEscape(s) }

// redactURLError drops the method and URL that *url.Error repeats (the caller already
// names them).
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
