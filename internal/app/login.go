package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninesid/nines/internal/clientip"
	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login"
	"github.com/ninesid/nines/internal/login/authn"
	"github.com/ninesid/nines/internal/login/provision"
	"github.com/ninesid/nines/internal/login/session"
	"github.com/ninesid/nines/internal/login/ui"
	"github.com/ninesid/nines/internal/oidc"
	"github.com/ninesid/nines/internal/password"
	"github.com/ninesid/nines/internal/replay"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/store/sqlstore"
)

// loginDeps is what the login surface is built from. It reads entity data only through
// the store's Reader (the replicas' view), keeps its state in the KV buckets, and
// writes nothing but sign-in facts, through recorder.
type loginDeps struct {
	reader    *sqlstore.Reader
	recorder  login.Recorder
	buckets   kv.Buckets
	hasher    *password.Hasher
	kek       []byte
	publicURL string
	// clientIP finds a request's client address behind the trusted proxies
	// (NINES_TRUSTED_PROXIES); the zero value takes the TCP peer.
	clientIP clientip.Resolver
	// provisioningToken is the provision-scoped admin API token of just-in-time
	// provisioning (NINES_PROVISIONING_TOKEN, or the all role's own); "": imports that
	// the source vouches for fail with an error log.
	provisioningToken string
	// events records user.provisioned (the command publisher); nil: none.
	events provision.EventPublisher
	// instanceTag (NINES_INSTANCE_TAG, validated by config) prefixes the secrets the
	// login surface mints for a flow (request IDs, codes, device codes, refresh tokens,
	// session IDs) so the edge routes the flow back to this process; "": untagged.
	instanceTag string
	logger      *slog.Logger
}

// mountLogin mounts the hosted login pages and the OpenID Provider of every tenant
// under /t/{tenant}/, behind the replay middleware (internal/replay) on the Replay
// bucket: a request the edge repeats with the same retry key runs once. It returns the
// provider (change notifications go to it) and the middleware (its counters go to
// /metrics).
func mountLogin(mux *http.ServeMux, d loginDeps) (*oidc.Provider, *replay.Middleware, error) {
	pages, err := ui.New()
	if err != nil {
		return nil, nil, fmt.Errorf("login pages: %w", err)
	}
	u, err := url.Parse(d.publicURL)
	if err != nil {
		return nil, nil, fmt.Errorf("public URL: %w", err)
	}
	rp, err := replay.New(replay.Config{Bucket: d.buckets.Replay, Logger: d.logger,
		// Retry keys count from the edges only (NINES_TRUSTED_PROXIES).
		FromEdge: func(r *http.Request) bool { return d.clientIP.Trusts(r.RemoteAddr) }})
	if err != nil {
		return nil, nil, fmt.Errorf("replay: %w", err)
	}
	// Just-in-time provisioning calls the admin API through the public URL, like any
	// outside client (ARCHITECTURE §3.3).
	importer, err := provision.New(provision.Config{PublicURL: d.publicURL, Token: d.provisioningToken,
		Events: d.events, Logger: d.logger})
	if err != nil {
		return nil, nil, err
	}
	p, err := oidc.New(oidc.Config{
		PublicURL: d.publicURL,
		Tenants:   d.reader,
		Users:     d.reader,
		Apps:      d.reader,
		Keys:      d.reader,
		KEK:       d.kek,
		Buckets:   d.buckets,
		Authn: authn.New(authn.Config{
			Users:    d.reader,
			Hasher:   d.hasher,
			Throttle: d.buckets.Throttle,
			Recorder: d.recorder,
			Logger:   d.logger,
			// The resolver answers with a trusted proxy only when it found no client
			// behind it: such attempts count per account, not in one shared window.
			TrustedProxy: d.clientIP.Trusts,
			Importer:     importer,
		}),
		ClientIP: d.clientIP.ClientIP,
		NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
		// Config validation allows plain http only on loopback; there cookies can't be
		// Secure, everywhere else they are.
		Sessions: session.New(session.Config{Bucket: d.buckets.Sessions, Secure: u.Scheme == "https",
			InstanceTag: d.instanceTag}),
		UI:          pages,
		Logger:      d.logger,
		InstanceTag: d.instanceTag,
	})
	if err != nil {
		return nil, nil, err
	}
	lm := http.NewServeMux()
	p.Mount(lm)
	h := routed(lm, rp.Wrap(lm))
	mux.Handle("/t/", h)
	mux.Handle("/t", h) // a 404 from lm, as before, rather than the ServeMux's redirect to /t/
	return p, rp, nil
}

// userinfoUncheckedCollector exports p's count of userinfo requests answered without a
// revocation check during a KV outage (oidc.Provider.UserinfoUncheckedRevocations), read
// at every scrape; the registry adds the process's constant labels.
func userinfoUncheckedCollector(p *oidc.Provider) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "nines_oidc_userinfo_unchecked_revocations_total",
		Help: "Userinfo requests since the process started whose access token (signature and expiry verified) was " +
			"accepted without a revocation check because the KV was unavailable (a NATS outage); refresh and " +
			"introspection refuse instead.",
	}, func() float64 { return float64(p.UserinfoUncheckedRevocations()) })
}

// routed sets r.Pattern to the route lm will take, then calls next. The access log and
// the HTTP metrics read the pattern from the request the process's ServeMux saw, after
// it returns; lm sets it on the request it gets, which the replay middleware replaces
// (its context), and a replayed answer takes no route at all.
func routed(lm *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, r.Pattern = lm.Handler(r)
		next.ServeHTTP(w, r)
	})
}
