package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// loadClient plays every party of the load: browsers (one cookie jar each), the relying
// party (code exchange, refresh, ID token verification), a service (client
// credentials) and an administrator. It keeps what the flows hand to each other: the
// browsers that have a session, refresh tokens and access tokens, each in a bounded
// pool.
type loadClient struct {
	t         Target
	timeout   time.Duration
	verifier  *gooidc.IDTokenVerifier
	authorize string
	token     string
	userinfo  string
	issuer    string
	rp        string // the redirect URI's scheme://host/path prefix the browsers stop at

	// transport dials Target.Dial for the issuer's host:port (the end-user flows);
	// adminTransport dials what the URL says (transport itself when there is no Dial).
	transport, adminTransport *http.Transport
	hc                        *http.Client // over transport; no jar; does not follow redirects
	adminHC                   *http.Client // the same over adminTransport, for the admin API

	sessions jarPool
	refresh  tokenQueue
	access   tokenRing

	nextUser  atomic.Int64
	nextGroup atomic.Int64
	runID     string
	issued    atomic.Int64
	uncertain atomic.Int64
}

// Pool bounds.
const (
	maxSessions      = 64
	maxRefreshTokens = 512
	maxAccessTokens  = 64
	maxResponseBody  = 1 << 20
)

// newLoadClient discovers t's issuer (through t.Dial when set) and returns a client
// with at most conns idle connections per address.
func newLoadClient(ctx context.Context, t Target, timeout time.Duration, conns int) (*loadClient, error) {
	issuer := strings.TrimSuffix(t.Issuer, "/")
	iss, err := url.Parse(issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("target: issuer %q: not an absolute URL", t.Issuer)
	}
	tr := newLoadTransport(timeout, conns, hostPort(iss), t.Dial)
	adminTr := tr
	if t.Dial != "" {
		adminTr = newLoadTransport(timeout, conns, "", "")
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &loadClient{t: t, timeout: timeout, transport: tr, adminTransport: adminTr, issuer: issuer,
		hc:      &http.Client{Transport: tr, CheckRedirect: noRedirect},
		adminHC: &http.Client{Transport: adminTr, CheckRedirect: noRedirect}}
	rp, err := url.Parse(t.Client.RedirectURI)
	if err != nil || rp.Host == "" {
		c.close()
		return nil, fmt.Errorf("target: redirect URI %q: not an absolute URL", t.Client.RedirectURI)
	}
	c.rp = t.Client.RedirectURI
	// go-oidc keeps the discovery context for the key set's later refreshes: it must
	// outlive this call, and its client bounds every such request.
	discover := &http.Client{Transport: tr, Timeout: timeout}
	provider, err := gooidc.NewProvider(gooidc.ClientContext(context.WithoutCancel(ctx), discover), c.issuer)
	if err != nil {
		c.close()
		if t.Dial != "" {
			return nil, fmt.Errorf("target: discovery at %s (dialled at %s): %w", c.issuer, t.Dial, err)
		}
		return nil, fmt.Errorf("target: discovery at %s: %w", c.issuer, err)
	}
	var meta struct {
		UserInfo string `json:"userinfo_endpoint"`
	}
	_ = provider.Claims(&meta)
	ep := provider.Endpoint()
	c.authorize, c.token, c.userinfo = ep.AuthURL, ep.TokenURL, meta.UserInfo
	c.verifier = provider.Verifier(&gooidc.Config{ClientID: t.Client.ID})
	return c, nil
}

// newLoadTransport is the load's transport: no environment proxy, bounded waits, and,
// when via is set, every connection to public (the issuer's host:port) made to via
// instead, as a resolver that leads the public host name to one region's edge would;
// URLs and Host headers are left as they are.
func newLoadTransport(timeout time.Duration, conns int, public, via string) *http.Transport {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if via != "" {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.EqualFold(addr, public) {
				addr = via
			}
			return d.DialContext(ctx, network, addr)
		}
	}
	return &http.Transport{
		Proxy:                 nil, // loopback only: never an environment proxy
		DialContext:           dial,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
	}
}

// close closes the client's idle connections.
func (c *loadClient) close() {
	c.transport.CloseIdleConnections()
	c.adminTransport.CloseIdleConnections()
}

func (c *loadClient) commands() IssuedCommands {
	return IssuedCommands{Issued: int(c.issued.Load()), Uncertain: int(c.uncertain.Load())}
}

// warmup runs n password sign-ins one after the other; the first failure ends it.
func (c *loadClient) warmup(ctx context.Context, n int) error {
	for i := range n {
		o := c.do(ctx, FlowPassword, time.Now(), -1-i)
		if !o.OK {
			return fmt.Errorf("warm-up sign-in %d of %d failed at %s (%s, status %d): %s", i+1, n, o.Step, o.Class, o.Status, o.Err)
		}
	}
	return nil
}

// stepError is a failed step of a flow.
type stepError struct {
	step, class string
	status      int
	err         error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }

func stepFail(step, class string, status int, format string, args ...any) *stepError {
	return &stepError{step: step, class: class, status: status, err: fmt.Errorf(format, args...)}
}

// do runs one flow due at at and returns its outcome.
func (c *loadClient) do(ctx context.Context, f Flow, at time.Time, seq int) Outcome {
	o := Outcome{Seq: seq, Flow: f, Start: at, Lag: time.Since(at)}
	fctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var (
		status int
		err    error
	)
	switch f {
	case FlowPassword:
		status, err = c.passwordSignIn(fctx)
	case FlowSSO:
		status, err = c.ssoSignIn(fctx)
	case FlowRefresh:
		status, err = c.refreshGrant(fctx)
	case FlowClientCredentials:
		status, err = c.clientCredentials(fctx)
	case FlowUserinfo:
		status, err = c.userInfo(fctx)
	case FlowAdminList:
		status, err = c.adminListUsers(fctx)
	case FlowAdminCreate:
		status, err = c.adminCreateGroup(fctx)
	default:
		err = stepFail("schedule", ClassProtocol, 0, "unknown flow %q", f)
	}
	o.Latency = time.Since(at)
	o.Status = status
	if err == nil {
		o.OK = true
		return o
	}
	var se *stepError
	if !errors.As(err, &se) {
		se = &stepError{step: string(f), err: err}
	}
	o.Step, o.Err = se.step, se.err.Error()
	if se.status != 0 {
		o.Status = se.status
	}
	o.Class = se.class
	if o.Class == "" {
		o.Class = classifyErr(fctx, se.err)
	}
	return o
}

// classifyErr names the class of a transport-level error.
func classifyErr(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled):
		return ClassCancelled
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return ClassConnect
	}
	var op *net.OpError
	var dns *net.DNSError
	if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
		return ClassConnect
	}
	return ClassTransport
}

// statusClass is the class of an unexpected HTTP status.
func statusClass(status int) string {
	if status >= 500 {
		return ClassHTTP5xx
	}
	if status >= 400 {
		return ClassHTTP4xx
	}
	return ClassProtocol
}

// stepResponse is a read response.
type stepResponse struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL
}

// sendStep makes one request with hc and reads the answer (at most maxResponseBody).
func sendStep(ctx context.Context, hc *http.Client, req *http.Request, step string) (stepResponse, error) {
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return stepResponse{}, &stepError{step: step, err: err, class: classifyErr(ctx, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return stepResponse{status: resp.StatusCode}, &stepError{step: step, err: err, class: classifyErr(ctx, err), status: resp.StatusCode}
	}
	return stepResponse{status: resp.StatusCode, header: resp.Header, body: body, url: resp.Request.URL}, nil
}

// jarPool is a bounded ring of browsers with a session: a new one replaces the oldest.
type jarPool struct {
	mu   sync.Mutex
	jars []http.CookieJar
	next int // the slot the next put overwrites once full
	pick int
}

func (p *jarPool) put(j http.CookieJar) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.jars) < maxSessions {
		p.jars = append(p.jars, j)
		return
	}
	p.jars[p.next] = j
	p.next = (p.next + 1) % maxSessions
}

// get returns the browsers in turn; nil when there is none.
func (p *jarPool) get() http.CookieJar {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.jars) == 0 {
		return nil
	}
	p.pick = (p.pick + 1) % len(p.jars)
	return p.jars[p.pick]
}

// drop removes j (its session is gone).
func (p *jarPool) drop(j http.CookieJar) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.jars {
		if x == j {
			p.jars = append(p.jars[:i], p.jars[i+1:]...)
			p.next = 0
			return
		}
	}
}

// tokenQueue holds refresh tokens, each used by one flow at a time (a refresh token
// is single use: presenting it twice revokes its family). Oldest first; full: the
// oldest is dropped.
type tokenQueue struct {
	mu sync.Mutex
	q  []string
}

func (q *tokenQueue) put(t string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) >= maxRefreshTokens {
		q.q = q.q[1:]
	}
	q.q = append(q.q, t)
}

func (q *tokenQueue) take() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) == 0 {
		return "", false
	}
	t := q.q[0]
	q.q = q.q[1:]
	return t, true
}

// tokenRing holds recent access tokens with their expiry; any number of flows may use
// one at once.
type tokenRing struct {
	mu   sync.Mutex
	toks []accessToken
	next int // the slot the next put overwrites once full
	pick int
}

type accessToken struct {
	value  string
	expiry time.Time
}

func (r *tokenRing) put(t accessToken) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.toks) < maxAccessTokens {
		r.toks = append(r.toks, t)
		return
	}
	r.toks[r.next] = t
	r.next = (r.next + 1) % maxAccessTokens
}

// get returns the stored tokens in turn, skipping those that expire within 30 s.
func (r *tokenRing) get(now time.Time) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range len(r.toks) {
		r.pick = (r.pick + 1) % len(r.toks)
		if t := r.toks[r.pick]; t.expiry.After(now.Add(30 * time.Second)) {
			return t.value, true
		}
	}
	return "", false
}

// newJar is a fresh browser's cookie jar.
func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil) // never fails without options
	return j
}

// tokenAnswer is the token endpoint's answer (RFC 6749 §5.1).
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// tokenRequest posts form to the token endpoint with the client's credentials
// (client_secret_basic) and decodes a 200 answer.
func (c *loadClient) tokenRequest(ctx context.Context, form url.Values) (tokenAnswer, int, error) {
	req, err := http.NewRequest(http.MethodPost, c.token, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, 0, stepFail("token", ClassProtocol, 0, "%v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.t.Client.ID), url.QueryEscape(c.t.Client.Secret)) // RFC 6749 §2.3.1
	resp, err := sendStep(ctx, c.hc, req, "token")
	if err != nil {
		return tokenAnswer{}, resp.status, err
	}
	if resp.status != http.StatusOK {
		return tokenAnswer{}, resp.status, stepFail("token", statusClass(resp.status), resp.status, "%d: %.200s", resp.status, resp.body)
	}
	var tr tokenAnswer
	if err := json.Unmarshal(resp.body, &tr); err != nil || tr.AccessToken == "" {
		return tr, resp.status, stepFail("token", ClassProtocol, resp.status, "a 200 without an access token: %.200s", resp.body)
	}
	return tr, resp.status, nil
}

// keepAccess keeps a user's access token for the userinfo flow (a client_credentials
// token has no user and no openid scope: userinfo refuses it).
func (c *loadClient) keepAccess(tr tokenAnswer) {
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	c.access.put(accessToken{value: tr.AccessToken, expiry: time.Now().Add(ttl)})
}
