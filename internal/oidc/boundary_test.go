package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/kv"
)

// TestBoundaryMapsEveryCode is the boundary's table: every RFC error code nines answers
// with, its status, and that the client sees only the fixed text, never the cause.
func TestBoundaryMapsEveryCode(t *testing.T) {
	const secretCause = "cause-with-a-code-abc123"
	tests := []struct {
		code   string
		status int
	}{
		{CodeInvalidRequest, 400},          // RFC 6749 §5.2
		{CodeInvalidClient, 401},           // RFC 6749 §5.2
		{CodeInvalidGrant, 400},            // RFC 6749 §5.2
		{CodeUnauthorizedClient, 400},      // RFC 6749 §5.2
		{CodeUnsupportedGrantType, 400},    // RFC 6749 §5.2
		{CodeInvalidScope, 400},            // RFC 6749 §5.2
		{CodeAccessDenied, 400},            // RFC 6749 §4.1.2.1, RFC 8628 §3.5
		{CodeUnsupportedResponseType, 400}, // RFC 6749 §4.1.2.1
		{CodeServerError, 500},             // RFC 6749 §4.1.2.1
		{CodeTemporarilyUnavailable, 503},  // RFC 6749 §4.1.2.1
		{CodeInteractionRequired, 400},     // OIDC Core §3.1.2.6
		{CodeLoginRequired, 400},           // OIDC Core §3.1.2.6
		{CodeConsentRequired, 400},         // OIDC Core §3.1.2.6
		{CodeRequestNotSupported, 400},     // OIDC Core §3.1.2.6
		{CodeRequestURINotSupported, 400},  // OIDC Core §3.1.2.6
		{CodeInvalidToken, 401},            // RFC 6750 §3.1
		{CodeInsufficientScope, 403},       // RFC 6750 §3.1
		{CodeUnsupportedTokenType, 400},    // RFC 7009 §2.2.1
		{CodeAuthorizationPending, 400},    // RFC 8628 §3.5
		{CodeSlowDown, 400},                // RFC 8628 §3.5
		{CodeExpiredToken, 400},            // RFC 8628 §3.5
		{CodeNotFound, 404},
	}
	if len(tests) != len(codes) {
		t.Fatalf("table has %d codes, the boundary knows %d: add the new ones here", len(tests), len(codes))
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", &Error{Code: tc.code, cause: errors.New(secretCause)})
			oe, status := boundary(err)
			if string(oe.ErrorType) != tc.code || status != tc.status {
				t.Errorf("boundary = %q %d, want %q %d", oe.ErrorType, status, tc.code, tc.status)
			}
			if oe.Description == "" || strings.Contains(oe.Description, secretCause) || oe.Parent != nil {
				t.Errorf("description %q parent %v: want fixed text only", oe.Description, oe.Parent)
			}
			rec := httptest.NewRecorder()
			writeErrorCode(rec, tc.code, status)
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tc.code || rec.Code != tc.status {
				t.Errorf("JSON %d %v %v", rec.Code, body, err)
			}
			if strings.Contains(rec.Body.String(), secretCause) {
				t.Error("cause leaked into the body")
			}
		})
	}
	for name, tc := range map[string]struct {
		err  error
		code string
	}{
		"plain error":        {errors.New(secretCause), CodeServerError},
		"kv unavailable":     {fmt.Errorf("x: %w", kv.ErrUnavailable), CodeTemporarilyUnavailable},
		"unknown code":       {&Error{Code: "made_up"}, CodeServerError},
		"status override":    {&Error{Code: CodeAccessDenied, status: http.StatusForbidden}, CodeAccessDenied},
		"constructor":        {InvalidGrant("x %s", secretCause), CodeInvalidGrant},
		"server constructor": {ServerError(errors.New(secretCause)), CodeServerError},
	} {
		if oe, _ := boundary(tc.err); string(oe.ErrorType) != tc.code || strings.Contains(oe.Description, secretCause) {
			t.Errorf("%s: %q %q", name, oe.ErrorType, oe.Description)
		}
	}
	if _, status := boundary(&Error{Code: CodeAccessDenied, status: http.StatusForbidden}); status != http.StatusForbidden {
		t.Errorf("status override ignored: %d", status)
	}
}
