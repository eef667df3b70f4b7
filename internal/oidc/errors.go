package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/requestid"
)

// Error is the protocol error of this package: an OAuth 2.0 / OIDC error code (RFC 6749
// §4.1.2.1, §5.2; OIDC Core §3.1.2.6; RFC 6750 §3.1; RFC 7009 §2.2.1; RFC 8628 §3.5)
// and the internal cause. The client only ever sees Code and the fixed description of
// the code (Describe); the cause goes to the log with the request ID.
type Error struct {
	Code   string
	cause  error
	status int // overrides the code's status when set (a disabled tenant: 403)
}

func (e *Error) Error() string {
	if e.cause == nil {
		return e.Code
	}
	return e.Code + ": " + e.cause.Error()
}

func (e *Error) Unwrap() error { return e.cause }

// The error codes nines answers with.
const (
	CodeInvalidRequest          = "invalid_request"           // RFC 6749 §4.1.2.1, §5.2
	CodeInvalidClient           = "invalid_client"            // RFC 6749 §5.2
	CodeInvalidGrant            = "invalid_grant"             // RFC 6749 §5.2
	CodeUnauthorizedClient      = "unauthorized_client"       // RFC 6749 §4.1.2.1, §5.2
	CodeUnsupportedGrantType    = "unsupported_grant_type"    // RFC 6749 §5.2
	CodeInvalidScope            = "invalid_scope"             // RFC 6749 §4.1.2.1, §5.2
	CodeAccessDenied            = "access_denied"             // RFC 6749 §4.1.2.1; RFC 8628 §3.5
	CodeUnsupportedResponseType = "unsupported_response_type" // RFC 6749 §4.1.2.1
	CodeServerError             = "server_error"              // RFC 6749 §4.1.2.1
	CodeTemporarilyUnavailable  = "temporarily_unavailable"   // RFC 6749 §4.1.2.1
	CodeInteractionRequired     = "interaction_required"      // OIDC Core §3.1.2.6
	CodeLoginRequired           = "login_required"            // OIDC Core §3.1.2.6
	CodeConsentRequired         = "consent_required"          // OIDC Core §3.1.2.6
	CodeRequestNotSupported     = "request_not_supported"     // OIDC Core §3.1.2.6
	CodeRequestURINotSupported  = "request_uri_not_supported" // OIDC Core §3.1.2.6
	CodeInvalidToken            = "invalid_token"             // RFC 6750 §3.1
	CodeInsufficientScope       = "insufficient_scope"        // RFC 6750 §3.1
	CodeUnsupportedTokenType    = "unsupported_token_type"    // RFC 7009 §2.2.1
	CodeAuthorizationPending    = "authorization_pending"     // RFC 8628 §3.5
	CodeSlowDown                = "slow_down"                 // RFC 8628 §3.5
	CodeExpiredToken            = "expired_token"             // RFC 8628 §3.5
	CodeNotFound                = "not_found"                 // unknown tenant (nines)
)

type codeInfo struct {
	status      int
	description string
}

// codes maps every code to its HTTP status and the fixed text a client sees.
var codes = map[string]codeInfo{
	CodeInvalidRequest:          {http.StatusBadRequest, "The request is missing a parameter, repeats one, or is malformed."},
	CodeInvalidClient:           {http.StatusUnauthorized, "Client authentication failed."},
	CodeInvalidGrant:            {http.StatusBadRequest, "The grant is invalid, expired, revoked, or was issued to another client."},
	CodeUnauthorizedClient:      {http.StatusBadRequest, "The client is not allowed to use this grant or response type."},
	CodeUnsupportedGrantType:    {http.StatusBadRequest, "The grant type is not supported."},
	CodeInvalidScope:            {http.StatusBadRequest, "The requested scope is invalid or not allowed."},
	CodeAccessDenied:            {http.StatusBadRequest, "The request was denied."},
	CodeUnsupportedResponseType: {http.StatusBadRequest, "The response type is not supported."},
	CodeServerError:             {http.StatusInternalServerError, "The server failed to handle the request."},
	CodeTemporarilyUnavailable:  {http.StatusServiceUnavailable, "The server is temporarily unavailable; try again."},
	CodeInteractionRequired:     {http.StatusBadRequest, "User interaction is required."},
	CodeLoginRequired:           {http.StatusBadRequest, "The user must sign in."},
	CodeConsentRequired:         {http.StatusBadRequest, "The user must consent."},
	CodeRequestNotSupported:     {http.StatusBadRequest, "The request parameter is not supported."},
	CodeRequestURINotSupported:  {http.StatusBadRequest, "The request_uri parameter is not supported."},
	CodeInvalidToken:            {http.StatusUnauthorized, "The access token is invalid, expired or revoked."},
	CodeInsufficientScope:       {http.StatusForbidden, "The access token lacks the required scope."},
	CodeUnsupportedTokenType:    {http.StatusBadRequest, "The token type is not supported."},
	CodeAuthorizationPending:    {http.StatusBadRequest, "The user has not yet completed the authorization."},
	CodeSlowDown:                {http.StatusBadRequest, "Polling too fast; slow down."},
	CodeExpiredToken:            {http.StatusBadRequest, "The device code has expired."},
	CodeNotFound:                {http.StatusNotFound, "Not found."},
}

func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, cause: fmt.Errorf(format, args...)}
}

func wrapError(code string, cause error) *Error { return &Error{Code: code, cause: cause} }

// Constructors, one per code, so call sites read as the RFC does.
func InvalidRequest(format string, a ...any) *Error {
	return newError(CodeInvalidRequest, format, a...)
}
func InvalidClient(format string, a ...any) *Error { return newError(CodeInvalidClient, format, a...) }
func InvalidGrant(format string, a ...any) *Error  { return newError(CodeInvalidGrant, format, a...) }
func UnauthorizedClient(format string, a ...any) *Error {
	return newError(CodeUnauthorizedClient, format, a...)
}
func UnsupportedGrantType(format string, a ...any) *Error {
	return newError(CodeUnsupportedGrantType, format, a...)
}
func InvalidScope(format string, a ...any) *Error { return newError(CodeInvalidScope, format, a...) }
func AccessDenied(format string, a ...any) *Error { return newError(CodeAccessDenied, format, a...) }
func UnsupportedResponseType(format string, a ...any) *Error {
	return newError(CodeUnsupportedResponseType, format, a...)
}
func ServerError(cause error) *Error               { return wrapError(CodeServerError, cause) }
func LoginRequired(format string, a ...any) *Error { return newError(CodeLoginRequired, format, a...) }
func InvalidToken(format string, a ...any) *Error  { return newError(CodeInvalidToken, format, a...) }
func AuthorizationPending() *Error                 { return newError(CodeAuthorizationPending, "pending") }
func SlowDown() *Error                             { return newError(CodeSlowDown, "polling too fast") }
func ExpiredToken() *Error                         { return newError(CodeExpiredToken, "device code expired") }
func NotFound(format string, a ...any) *Error      { return newError(CodeNotFound, format, a...) }

// classify turns any error into an *Error: kv.ErrUnavailable and context errors become
// temporarily_unavailable, anything else not already an *Error becomes server_error.
func classify(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		if _, known := codes[e.Code]; known {
			return e
		}
		return ServerError(err)
	case errors.Is(err, kv.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return wrapError(CodeTemporarilyUnavailable, err)
	default:
		return ServerError(err)
	}
}

// Describe returns the HTTP status and fixed description of code.
func Describe(code string) (status int, description string) {
	info, ok := codes[code]
	if !ok {
		info = codes[CodeServerError]
	}
	return info.status, info.description
}

// Describe returns the HTTP status and fixed description of e.
func (e *Error) Describe() (status int, description string) {
	status, description = Describe(e.Code)
	if e.status != 0 {
		status = e.status
	}
	return status, description
}

// boundary maps err to what the client is told: the library's error value (for
// op.WriteError) with the fixed description of its code and the status to send. It is
// the one place where protocol errors leave the package.
func boundary(err error) (*zoidc.Error, int) {
	e := classify(err)
	status, desc := e.Describe()
	oe := &zoidc.Error{Description: desc}
	// The library's error type is an unexported string type; set it by reflection.
	reflect.ValueOf(&oe.ErrorType).Elem().SetString(e.Code)
	return oe, status
}

// toLibrary is the boundary for the library-routed endpoints: it logs the cause and
// returns an error op.WriteError renders with our status and fixed text.
func (p *Provider) toLibrary(ctx context.Context, err error) error {
	p.logError(ctx, err)
	oe, status := boundary(err)
	return op.NewStatusError(oe, status)
}

// logError logs err's cause with the request ID. Causes never contain raw tokens,
// codes, secrets or passwords: the call sites build them from digests and IDs only.
func (p *Provider) logError(ctx context.Context, err error) {
	e := classify(err)
	level := slog.LevelInfo
	if e.Code == CodeServerError || e.Code == CodeTemporarilyUnavailable {
		level = slog.LevelError
	}
	p.log.Log(ctx, level, "oidc request refused", slog.String("request_id", requestid.FromContext(ctx)),
		slog.String("error", e.Code), slog.String("cause", fmt.Sprint(e.cause)))
}
