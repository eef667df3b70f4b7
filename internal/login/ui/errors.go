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
	// TextImportUnavailable: the tenant's legacy user store (just-in-time import) did
	// not answer. Shown only for names that match no user, whatever the password.
	TextImportUnavailable = "We could not check your account right now. Try again in a few minutes."
	// TextProvisioningFailed: the legacy store accepted the password but the account
	// could not be created (the admin tier unavailable or read-only).
	TextProvisioningFailed = "Your account could not be set up right now. Try again in a few minutes."
)

// LoginErrorFor maps an error of authn.Authenticator.Authenticate to the sign-in form's
// text and HTTP status: invalid credentials 400, locked 429, tenant disabled 403, the
// import source unavailable or the provisioning failed 503 with their own texts, and
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
	case errors.Is(err, authn.ErrImportUnavailable):
		return TextImportUnavailable, http.StatusServiceUnavailable
	case errors.Is(err, authn.ErrProvisioningFailed):
		return TextProvisioningFailed, http.StatusServiceUnavailable
	}
	return TextBusy, http.StatusServiceUnavailable
}
