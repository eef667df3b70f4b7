package ui

import (
	"errors"
	"net/http"

	"github.com/ninesid/nines/internal/login/authn"
)

// The sign-in form's error texts. They are fixed: never an error's cause, and the same
// for an unknown name, a wrong password and a disabled account.
const (
	TextInvalidCredentials = "Incorrect username or password."
	TextLocked             = "Too many failed attempts. Try again later."
	TextBusy               = "Sign-in is busy, please try again in a moment."
	TextUnavailable        = "Sign-in is unavailable for this organization."
)

// LoginErrorFor maps an error of authn.Authenticator.Authenticate to the sign-in form's
// text and HTTP status: invalid credentials 400, locked 429, tenant disabled 403, and
// anything else (password.ErrBusy, kv.ErrUnavailable, a user store failure) 503 with the
// busy text — the caller adds Retry-After and logs the cause. A nil error gives ("", 200).
func LoginErrorFor(err error) (text string, status int) {
	switch {
	case err == nil:
		return "", http.StatusOK
	case errors.Is(err, authn.ErrInvalidCredentials):
		return TextInvalidCredentials, http.StatusBadRequest
	case errors.Is(err, authn.ErrLocked):
		return TextLocked, http.StatusTooManyRequests
	case errors.Is(err, authn.ErrTenantDisabled):
		return TextUnavailable, http.StatusForbidden
	}
	return TextBusy, http.StatusServiceUnavailable
}
