package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ninesid/nines/internal/client"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login/ui"
)

// userCodeAlphabet has no vowels (no words) and no look-alikes (RFC 8628 §6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// newUserCode returns 8 characters of userCodeAlphabet (≈34.6 bits), shown as XXXX-XXXX.
func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(c)%len(userCodeAlphabet)]) // 256 % 20 bias: 1.2 %, accepted
	}
	return string(out)
}

// normalizeUserCode upper-cases and drops separators so "bcdf-ghjk" and "BCDFGHJK" match.
func normalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if strings.ContainsRune(userCodeAlphabet, r) {
			b.WriteRune(r)
		}
		if b.Len() > 16 {
			break
		}
	}
	return b.String()
}

// deviceAuthResponse is RFC 8628 §3.2.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorization is the device authorization endpoint (RFC 8628 §3.1–§3.2).
func (s *server) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[zoidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	resp, err := s.p.deviceAuthorization(ctx, r.Client, r.Data)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(resp), nil
}

func (p *Provider) deviceAuthorization(ctx context.Context, c op.Client, req *zoidc.DeviceAuthorizationRequest) (deviceAuthResponse, error) {
	app, ok := appOf(c)
	if !ok {
		return deviceAuthResponse{}, ServerError(errors.New("client of unexpected type"))
	}
	if !slices.Contains(app.GrantTypes, client.GrantDeviceCode) {
		return deviceAuthResponse{}, UnauthorizedClient("client %q may not use the device grant", app.ClientID)
	}
	scopes := uniqueScopes(req.Scopes) // stored in the record: no repeats to inflate it
	for _, sc := range scopes {
		if !slices.Contains(userScopes, sc) {
			return deviceAuthResponse{}, InvalidScope("scope %q unknown", trunc(sc))
		}
	}
	tc := tenantFrom(ctx)
	dc := p.mintSecret()
	interval := int64(p.cfg.DevicePollInterval.Seconds())
	exp := p.now().Add(p.cfg.DeviceCodeLifetime)
	dkey := kvKey(tc.T.ID, kindDevice, digest(dc))
	// User codes are short: retry a collision a bounded number of times.
	for attempt := 0; ; attempt++ {
		uc := newUserCode()
		ucKey := kvKey(tc.T.ID, kindUserCode, digest(normalizeUserCode(uc)))
		_, err := p.cfg.Buckets.DeviceCodes.Create(ctx, ucKey, encode(map[string]string{"dc": digest(dc)}))
		if errors.Is(err, kv.ErrExists) && attempt < 5 {
			continue
		}
		if err != nil {
			return deviceAuthResponse{}, kvErr(err)
		}
		rec := deviceRecord{ClientID: app.ClientID, Scopes: scopes, UserCode: digest(normalizeUserCode(uc)),
			ExpiresAt: exp, Interval: interval, Status: devicePending}
		if _, err := p.cfg.Buckets.DeviceCodes.Create(ctx, dkey, encode(rec)); err != nil {
			return deviceAuthResponse{}, kvErr(err)
		}
		verify := p.endpoint(tc, pathDevice)
		return deviceAuthResponse{DeviceCode: dc, UserCode: uc, VerificationURI: verify,
			VerificationURIComplete: verify + "?user_code=" + url.QueryEscape(uc),
			ExpiresIn:               int64(p.cfg.DeviceCodeLifetime.Seconds()), Interval: interval}, nil
	}
}

// deviceByUserCode finds the device authorization a user code names.
func (p *Provider) deviceByUserCode(ctx context.Context, userCode string) (kv.Entry, deviceRecord, error) {
	tc := tenantFrom(ctx)
	var rec deviceRecord
	n := normalizeUserCode(userCode)
	if len(n) != 8 {
		return kv.Entry{}, rec, InvalidRequest("user code malformed")
	}
	// A Get's "not found" is the stream leader's (kv: a lagging replica cannot make a
	// code just issued read as unknown). Approval is a compare-and-swap.
	e, err := p.cfg.Buckets.DeviceCodes.Get(ctx, kvKey(tc.T.ID, kindUserCode, digest(n)))
	if err != nil {
		if kvNotFound(err) {
			return kv.Entry{}, rec, InvalidRequest("user code unknown")
		}
		return kv.Entry{}, rec, kvErr(err)
	}
	var ptr map[string]string
	if err := decodeEntry(e, &ptr); err != nil {
		return kv.Entry{}, rec, err
	}
	de, err := p.cfg.Buckets.DeviceCodes.Get(ctx, kvKey(tc.T.ID, kindDevice, ptr["dc"]))
	if err != nil {
		if kvNotFound(err) {
			return kv.Entry{}, rec, InvalidRequest("device code gone")
		}
		return kv.Entry{}, rec, kvErr(err)
	}
	if err := decodeEntry(de, &rec); err != nil {
		return kv.Entry{}, rec, err
	}
	if subtle.ConstantTimeCompare([]byte(rec.UserCode), []byte(digest(n))) != 1 || !p.now().Before(rec.ExpiresAt) ||
		rec.Status != devicePending {
		return kv.Entry{}, rec, InvalidRequest("user code expired or used")
	}
	return de, rec, nil
}

func (p *Provider) devicePageData(tc tenantCtx, userCode, clientName string, confirm bool, msg string) ui.DevicePage {
	return ui.DevicePage{Tenant: tc.T, Action: p.endpoint(tc, pathDevice), UserCode: userCode, ClientName: clientName,
		Confirm: confirm, Error: msg, Hidden: map[string]string{}, StylesheetURL: p.endpoint(tc, pathStylesheet)}
}

// devicePage is the verification URI (RFC 8628 §3.3): it asks for the user code, sends
// a user without a session to sign in, then asks to approve the device.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	uc := r.URL.Query().Get("user_code")
	if uc == "" {
		p.ui.DeviceCode(w, http.StatusOK, p.devicePageData(tc, "", "", false, ""))
		return
	}
	p.deviceConfirm(w, r, tc, uc)
}

func (p *Provider) deviceConfirm(w http.ResponseWriter, r *http.Request, tc tenantCtx, uc string) {
	ctx := r.Context()
	// Sign-in first: only a signed-in user may learn whether a user code exists, so
	// guessing codes costs a credential (RFC 8628 §5.1).
	if _, err := p.cfg.Sessions.Current(ctx, r, tc.T); err != nil {
		http.Redirect(w, r, p.endpoint(tc, pathLogin)+"?user_code="+url.QueryEscape(trunc(uc)), http.StatusSeeOther)
		return
	}
	_, rec, err := p.deviceByUserCode(ctx, uc)
	if err != nil {
		p.logError(ctx, err)
		p.ui.DeviceCode(w, http.StatusBadRequest, p.devicePageData(tc, "", "", false, "This code is not valid. Check it and try again."))
		return
	}
	name := rec.ClientID
	if app, err := p.application(ctx, rec.ClientID); err == nil && app.ClientName != "" {
		name = app.ClientName
	}
	p.ui.DeviceCode(w, http.StatusOK, p.devicePageData(tc, uc, name, true, ""))
}

// deviceSubmit handles the user-code form and the approve/deny form. Approval binds the
// session's user to the device code with a compare-and-swap, so a code is approved once.
func (p *Provider) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tc := tenantFrom(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, &tc, InvalidRequest("form does not parse"))
		return
	}
	uc, action := r.PostForm.Get(ui.FieldUserCode), r.PostForm.Get(ui.FieldDecision)
	if action == "" {
		p.deviceConfirm(w, r, tc, uc)
		return
	}
	sess, err := p.cfg.Sessions.Current(ctx, r, tc.T)
	if err != nil {
		http.Redirect(w, r, p.endpoint(tc, pathLogin)+"?user_code="+url.QueryEscape(uc), http.StatusSeeOther)
		return
	}
	e, rec, err := p.deviceByUserCode(ctx, uc)
	if err != nil {
		p.logError(ctx, err)
		p.ui.DeviceCode(w, http.StatusBadRequest, p.devicePageData(tc, "", "", false, "This code is not valid. Check it and try again."))
		return
	}
	approved := action == ui.DecisionApprove
	if approved {
		rec.Status = deviceApproved
		rec.Grant = &grant{ClientID: rec.ClientID, UserID: sess.UserID, Scopes: rec.Scopes, AuthTime: sess.AuthTime,
			AMR: sess.AMR, SID: sessionID(sess), GrantID: newID()}
	} else {
		rec.Status = deviceDenied
	}
	if _, err := p.cfg.Buckets.DeviceCodes.Update(ctx, e.Key, encode(rec), e.Revision); err != nil {
		p.errorPage(w, r, &tc, InvalidRequest("device code changed concurrently: %v", err))
		return
	}
	_ = p.cfg.Buckets.DeviceCodes.Delete(ctx, kvKey(tc.T.ID, kindUserCode, rec.UserCode), 0)
	p.ui.DeviceDone(w, ui.DeviceDonePage{Tenant: tc.T, Approved: approved, StylesheetURL: p.endpoint(tc, pathStylesheet)})
}

// DeviceToken is the device_code grant (RFC 8628 §3.4–§3.5): authorization_pending
// until the user decides, slow_down when polled faster than the interval, then tokens
// once (the approved record is deleted with a compare-and-swap) or access_denied.
func (s *server) DeviceToken(ctx context.Context, r *op.ClientRequest[zoidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	resp, err := s.p.deviceToken(ctx, r.Client, r.Data.DeviceCode)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return op.NewResponse(resp), nil
}

func (p *Provider) deviceToken(ctx context.Context, c op.Client, deviceCode string) (tokenResponse, error) {
	app, ok := appOf(c)
	if !ok {
		return tokenResponse{}, ServerError(errors.New("client of unexpected type"))
	}
	tc := tenantFrom(ctx)
	if deviceCode == "" || len(deviceCode) > 256 {
		return tokenResponse{}, InvalidGrant("device code empty or long")
	}
	key := kvKey(tc.T.ID, kindDevice, digest(deviceCode))
	b := p.cfg.Buckets.DeviceCodes
	// The status read may be one write old on a replicated bucket (the client polls
	// again); "unknown" is confirmed by the leader. Single use of an approval is decided
	// by the Consume below.
	e, err := b.Get(ctx, key)
	if err != nil {
		if kvNotFound(err) {
			return tokenResponse{}, InvalidGrant("unknown device code")
		}
		return tokenResponse{}, kvErr(err)
	}
	var rec deviceRecord
	if err := decodeEntry(e, &rec); err != nil {
		return tokenResponse{}, err
	}
	now := p.now()
	switch {
	case rec.ClientID != app.ClientID:
		return tokenResponse{}, InvalidGrant("device code of client %q presented by %q", rec.ClientID, app.ClientID)
	case !now.Before(rec.ExpiresAt):
		return tokenResponse{}, ExpiredToken()
	}
	switch rec.Status {
	case devicePending:
		tooFast := !rec.LastPoll.IsZero() && now.Sub(rec.LastPoll) < p.cfg.DevicePollInterval
		rec.LastPoll = now
		if _, err := b.Update(ctx, key, encode(rec), e.Revision); err != nil && !errors.Is(err, kv.ErrConflict) {
			return tokenResponse{}, kvErr(err)
		}
		if tooFast {
			return tokenResponse{}, SlowDown()
		}
		return tokenResponse{}, AuthorizationPending()
	case deviceDenied:
		_, _ = b.Consume(ctx, key)
		return tokenResponse{}, AccessDenied("the user denied the device")
	case deviceApproved:
		if rec.Grant == nil {
			return tokenResponse{}, ServerError(errors.New("approved device record without a grant"))
		}
		// Tokens first, then the approval is spent with a compare-and-swap delete on the
		// revision checked above: a transient failure (user store, signer, KV) leaves
		// the approval in place for the next poll.
		resp, err := p.issue(ctx, app, *rec.Grant, true, timeZero)
		if err != nil {
			return tokenResponse{}, err
		}
		if err := b.Delete(ctx, key, e.Revision); err != nil {
			p.dropOrphanRefresh(ctx, resp.RefreshToken)
			if errors.Is(err, kv.ErrConflict) || errors.Is(err, kv.ErrNotFound) {
				return tokenResponse{}, InvalidGrant("device code already used")
			}
			return tokenResponse{}, kvErr(err)
		}
		return resp, nil
	default:
		return tokenResponse{}, ServerError(errors.New("device record in unknown state"))
	}
}
