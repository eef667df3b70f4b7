// Command signin is a small OpenID Connect relying party for trying nines. It knows only
// the issuer URL and finds every endpoint by discovery: it signs in with the code flow
// and PKCE (S256), verifies the ID token and its nonce, shows the claims, refreshes the
// tokens and signs out at the provider's end_session_endpoint.
//
// With `nines serve` running and examples/quickstart.yaml applied (it registers the
// client "web" with http://localhost:9000/callback and http://localhost:9000/), run
//
//	NINES_CLIENT_SECRET=<the secret apply printed for acme/web> go run ./examples/signin
//
// and open http://localhost:9000/. Flags, each with an environment variable:
// -issuer (NINES_ISSUER, default http://127.0.0.1:8080/t/acme), -client-id
// (NINES_CLIENT_ID, default web) and -url (SIGNIN_URL, default http://localhost:9000):
// this app's base URL, whose host:port it listens on; <url>/callback and <url>/ must be
// registered as the client's redirect and post-logout redirect URIs.
//
// Sessions live in memory and the flow cookie is not encrypted: a teaching aid, not a
// template for production.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	flowCookie    = "signin_flow" // state, nonce and PKCE verifier of a sign-in under way
	sessionCookie = "signin_session"
)

// app is the relying party: the provider found by discovery, the OAuth 2.0 client
// configuration and the signed-in sessions.
type app struct {
	ctx        context.Context // carries the HTTP client for the provider's endpoints
	issuer     string
	verifier   *oidc.IDTokenVerifier
	conf       oauth2.Config
	endSession string // end_session_endpoint from discovery; "" if the provider has none
	home       string // post-logout redirect URI

	mu       sync.Mutex
	sessions map[string]*session
}

// session is what the app keeps after a sign-in.
type session struct {
	token   *oauth2.Token
	idToken string // raw, for id_token_hint
	claims  string // the ID token's claims, indented JSON
	note    string
}

func main() {
	issuer := flag.String("issuer", env("NINES_ISSUER", "http://127.0.0.1:8080/t/acme"), "the tenant's issuer URL")
	clientID := flag.String("client-id", env("NINES_CLIENT_ID", "web"), "the client_id")
	base := flag.String("url", env("SIGNIN_URL", "http://localhost:9000"), "this app's base URL")
	flag.Parse()
	secret := os.Getenv("NINES_CLIENT_SECRET")
	if secret == "" {
		log.Fatal("set NINES_CLIENT_SECRET to the client secret nines apply printed for the client")
	}
	u, err := url.Parse(strings.TrimRight(*base, "/"))
	if err != nil || u.Host == "" {
		log.Fatalf("-url %q: want a URL such as http://localhost:9000", *base)
	}

	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	provider, err := oidc.NewProvider(ctx, *issuer)
	if err != nil {
		log.Fatalf("discovery at %s failed (is nines serve running and the tenant applied?): %v", *issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		log.Fatal(err)
	}
	a := &app{
		ctx:      ctx,
		issuer:   *issuer,
		verifier: provider.Verifier(&oidc.Config{ClientID: *clientID}),
		conf: oauth2.Config{ClientID: *clientID, ClientSecret: secret, Endpoint: provider.Endpoint(),
			RedirectURL: u.String() + "/callback",
			Scopes:      []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}},
		endSession: meta.EndSession,
		home:       u.String() + "/",
		sessions:   map[string]*session{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /refresh", a.refresh)
	mux.HandleFunc("POST /logout", a.logout)
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("open %s/ to sign in with %s", u, *issuer) // once listening: tests wait for it
	log.Fatal((&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}

// login starts the authorization code flow (OIDC Core §3.1.2.1) with PKCE (RFC 7636):
// state, nonce and the code verifier wait in a short-lived cookie for the callback.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: state + "." + nonce + "." + verifier,
		Path: "/", MaxAge: 300, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, a.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback checks state, redeems the code and verifies the ID token and its nonce.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(flowCookie)
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: "/", MaxAge: -1}) // one use only
	if e := q.Get("error"); e != "" {
		a.render(w, http.StatusBadRequest, page{Error: "the provider answered " + e + ": " + q.Get("error_description")})
		return
	}
	parts := []string{}
	if err == nil {
		parts = strings.Split(c.Value, ".")
	}
	if len(parts) != 3 || q.Get("state") == "" || q.Get("state") != parts[0] {
		a.render(w, http.StatusBadRequest, page{Error: "state does not match: start again from the home page"})
		return
	}
	tok, err := a.conf.Exchange(a.ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		a.render(w, http.StatusBadGateway, page{Error: "code exchange: " + err.Error()})
		return
	}
	s, err := a.verify(tok, parts[1])
	if err != nil {
		a.render(w, http.StatusBadGateway, page{Error: err.Error()})
		return
	}
	id := rand.Text()
	a.mu.Lock()
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// verify checks the token response's ID token (signature, issuer, audience, expiry and,
// when nonce is not empty, the nonce) and returns the session it makes.
func (a *app) verify(tok *oauth2.Token, nonce string) (*session, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the token response has no ID token")
	}
	idt, err := a.verifier.Verify(a.ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		return nil, errors.New("ID token: nonce does not match")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(claims, "", "  ")
	return &session{token: tok, idToken: raw, claims: string(b)}, nil
}

// refresh redeems the refresh token (RFC 6749 §6). nines rotates refresh tokens and
// treats a spent one as stolen (the whole family is revoked), so refreshes are
// serialised and the new token replaces the old before anyone else can read it.
func (a *app) refresh(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, err := r.Cookie(sessionCookie)
	if err != nil || a.sessions[c.Value] == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s := a.sessions[c.Value]
	// A token without an access token is never valid, so this always calls the provider.
	tok, err := a.conf.TokenSource(a.ctx, &oauth2.Token{RefreshToken: s.token.RefreshToken}).Token()
	var next *session
	if err == nil {
		next = &session{token: tok, idToken: s.idToken, claims: s.claims}
		if _, ok := tok.Extra("id_token").(string); ok {
			next, err = a.verify(tok, "") // a refreshed ID token carries no nonce
		}
	}
	if err != nil {
		delete(a.sessions, c.Value)
		a.render(w, http.StatusBadGateway, page{Error: "refresh: " + err.Error()})
		return
	}
	next.note = "Refreshed at " + time.Now().Format(time.TimeOnly) + ": a new access token and a new refresh token."
	a.sessions[c.Value] = next
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout forgets the local session and sends the browser to the provider's
// end_session_endpoint (OIDC RP-Initiated Logout 1.0 §2), which ends the SSO session
// and comes back to the home page.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s := a.session(r, true)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	if s == nil || a.endSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	q := url.Values{"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {a.home}}
	http.Redirect(w, r, a.endSession+"?"+q.Encode(), http.StatusSeeOther)
}

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	p := page{Issuer: a.issuer}
	if s := a.session(r, false); s != nil {
		p.Claims, p.Note, p.Expiry, p.Refresh = s.claims, s.note, s.token.Expiry.Format(time.RFC1123), s.token.RefreshToken != ""
	}
	a.render(w, http.StatusOK, p)
}

// session returns the request's session, or nil; remove forgets it.
func (a *app) session(r *http.Request, remove bool) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if remove {
		delete(a.sessions, c.Value)
	}
	return s
}

type page struct {
	Issuer, Error, Claims, Note, Expiry string
	Refresh                             bool
}

var tmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nines sign-in example</title></head>
<body style="font-family: sans-serif; max-width: 48rem; margin: 2rem auto">
<h1>nines sign-in example</h1>
{{with .Error}}<p style="color: #b00"><strong>Error:</strong> {{.}}</p><p><a href="/">Home</a></p>
{{else}}{{if .Claims}}<p>You are signed in. The ID token's claims:</p>
<pre style="background: #eee; padding: 1rem">{{.Claims}}</pre>
<p>The access token expires {{.Expiry}}.{{with .Note}} {{.}}{{end}}</p>
{{if .Refresh}}<form method="post" action="/refresh"><button>Refresh the tokens</button></form>{{end}}
<form method="post" action="/logout"><button>Sign out</button></form>
{{else}}<p><a href="/login">Sign in</a> with {{.Issuer}}</p>{{end}}{{end}}
</body></html>
`))

func (a *app) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := tmpl.Execute(w, p); err != nil {
		log.Print(err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
