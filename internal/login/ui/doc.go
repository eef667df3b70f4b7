// Package ui renders the hosted login pages: sign-in, signed-out, device-code entry and
// confirmation, device done, and errors. They are server-rendered html/template pages
// that work without JavaScript, read on a phone, and meet the basics of accessibility
// (a label for every input, autocomplete hints, the page language, a title naming the
// tenant, errors announced with role="alert").
//
// Every page goes out with Cache-Control: no-store, a strict Content-Security-Policy
// (no script at all, styles only from the page's own origin, no framing), X-Frame-Options
// DENY and Referrer-Policy no-referrer. Branding is data: the tenant's display name in the
// text and its primary colour in a per-tenant stylesheet (Stylesheet), never inline.
//
// The pages show fixed texts chosen by the caller (LoginErrorFor maps an authn error to
// one); this package must never render an error's cause, and must never put a password
// into a page.
package ui
