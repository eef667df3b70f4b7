package oidc

import (
	"net/http"

	"github.com/ninesid/nines/internal/login/ui"

	"github.com/ninesid/nines/internal/requestid"
	"github.com/ninesid/nines/internal/tenant"
)

// Pages renders the hosted pages (*ui.Renderer). Renderers write the status, the
// security headers and the body.
type Pages interface {
	Login(w http.ResponseWriter, status int, p ui.LoginPage)
	SignedOut(w http.ResponseWriter, p ui.SignedOutPage)
	DeviceCode(w http.ResponseWriter, status int, p ui.DevicePage)
	DeviceDone(w http.ResponseWriter, p ui.DeviceDonePage)
	Error(w http.ResponseWriter, status int, p ui.ErrorPage)
	Stylesheet(t tenant.Tenant) (css []byte, etag string)
}

// errorPage renders a browser error without redirecting; the detail is the fixed text of
// the error's code, the cause goes to the log.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, tc *tenantCtx, err error) {
	p.logError(r.Context(), err)
	e := classify(err)
	status, desc := e.Describe()
	if e.Code == CodeInvalidClient { // a browser is not an OAuth client: no 401 challenge
		status = http.StatusBadRequest
	}
	page := ui.ErrorPage{Title: "This request cannot be completed", Detail: desc, RequestID: requestid.FromContext(r.Context())}
	if tc != nil && tc.Issuer != "" {
		t := tc.T
		page.Tenant, page.StylesheetURL = &t, p.endpoint(*tc, pathStylesheet)
	}
	if e.Code == CodeTemporarilyUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	p.ui.Error(w, status, page)
}

// stylesheet serves the tenant's login stylesheet with an ETag.
func (p *Provider) stylesheet(w http.ResponseWriter, r *http.Request) {
	css, etag := p.ui.Stylesheet(tenantFrom(r.Context()).T)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(css)
}
