package oidc

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/ninesid/nines/internal/keys"
)

// keyCache holds each tenant's keys, public JWKS and opened signers for a short TTL, so
// that signing does not read the store or open the sealed key on every token, and a
// rotation is picked up within one TTL — or at once, when a change notification
// announces it (keysChanged). A key's private half is opened once per process (by kid: a
// kid never names other key material) and carried over every reload while the key is
// still listed; JOSE signers are cached per (kid, typ).
//
// Every entry knows the tenant's key generation it was read at, and a reload never
// replaces an entry with an older generation (one replica may lag another).
type keyCache struct {
	reader KeyReader
	kek    []byte
	ttl    time.Duration
	now    func() time.Time // the token clock: the TTL
	log    *slog.Logger
	// clock is real time: how long the retries after a change may take is about
	// replication, not tokens.
	clock func() time.Time
	// backoff is the wait before each retry of a change's reload; its length bounds them.
	backoff []time.Duration

	group   singleflight.Group
	mu      sync.Mutex
	tenants map[uuid.UUID]*tenantKeys
	// pending holds the generations change notifications announced and no read has
	// shown yet; seq counts the notifications.
	pending map[uuid.UUID]*pendingKeys
	seq     uint64
}

type tenantKeys struct {
	loaded  time.Time
	gen     int64  // the tenant's key generation the keys are of (at least)
	seq     uint64 // keyCache.seq when the read began
	keys    []keys.Key
	jwks    []byte
	public  map[string]jose.JSONWebKey // by kid
	signers map[string]jose.Signer     // by kid and typ: kid + "|" + typ
	opened  map[string]crypto.Signer   // opened private keys, by kid
}

// pendingKeys is an announced generation not yet read.
type pendingKeys struct {
	gen     int64           // wanted: at least this
	seq     uint64          // keyCache.seq of the latest announcement
	expires time.Time       // by keyCache.clock: after it, the TTL alone bounds staleness
	ctx     context.Context // ends the retries (the subscription's lifetime)
	running bool            // a refresh goroutine retries for it
}

// Bounds of the work a change notification causes.
const (
	// changeRefreshWindow is how long an announced generation is waited for.
	changeRefreshWindow = 10 * time.Second
	// maxPendingKeys bounds the announced generations held at once (each about 100
	// bytes); a change beyond it is dropped, and the TTL covers it.
	maxPendingKeys = 10_000
)

// defaultChangeBackoff: the retries of a reload after a change, about 9.5 s in all.
var defaultChangeBackoff = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
	800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 3200 * time.Millisecond}

// openKey opens a sealed private key; tests count the calls.
var openKey = func(k keys.Key, kek []byte) (crypto.Signer, error) { return k.Signer(kek) }

func newKeyCache(r KeyReader, kek []byte, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{reader: r, kek: kek, ttl: ttl, now: now, log: slog.Default(), clock: time.Now,
		backoff: defaultChangeBackoff, tenants: map[uuid.UUID]*tenantKeys{}, pending: map[uuid.UUID]*pendingKeys{}}
}

// load returns tid's keys, reading them again when the cached copy is older than ttl or
// was read before a change notification announced a newer generation.
func (c *keyCache) load(ctx context.Context, tid uuid.UUID) (*tenantKeys, error) {
	c.mu.Lock()
	tk, ok := c.tenants[tid]
	fresh := ok && c.now().Sub(tk.loaded) < c.ttl && !c.outdated(tid, tk)
	c.mu.Unlock()
	if fresh {
		return tk, nil
	}
	got, err := c.fetch(ctx, tid)
	if err != nil {
		// The key store (a read replica) is down: keep signing with the keys we have for
		// up to staleKeysMax, so sign-in survives a replica outage (ARCHITECTURE.md §6).
		if ok && c.now().Sub(tk.loaded) < staleKeysMax {
			return tk, nil
		}
		return nil, err
	}
	return got, nil
}

// outdated reports whether tk was read before a notification announced a generation it
// does not have. A read that began after the notification and still shows an older
// generation is the replica lagging: that entry is not outdated for requests (they
// would only hammer the replica); the refresh goroutine retries it. c.mu is held.
func (c *keyCache) outdated(tid uuid.UUID, tk *tenantKeys) bool {
	p := c.pending[tid]
	return p != nil && tk.gen < p.gen && tk.seq < p.seq
}

// fetch reads tid's keys: one read per tenant at a time, however many requests and
// refreshes want one. The read is shared, so it must not die with the first caller's
// request.
func (c *keyCache) fetch(ctx context.Context, tid uuid.UUID) (*tenantKeys, error) {
	v, err, _ := c.group.Do(tid.String(), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyReadTimeout)
		defer cancel()
		return c.reload(rctx, tid)
	})
	if err != nil {
		return nil, err
	}
	return v.(*tenantKeys), nil
}

// staleKeysMax is how long cached keys keep serving while the key store cannot be read.
// A rotation publishes the next key long before it signs, so this is safe for verifiers.
const staleKeysMax = time.Hour

// keyReadTimeout bounds one read of a tenant's keys.
const keyReadTimeout = 5 * time.Second

func (c *keyCache) reload(ctx context.Context, tid uuid.UUID) (*tenantKeys, error) {
	c.mu.Lock()
	seq := c.seq
	c.mu.Unlock()
	ks, gen, err := c.reader.SigningKeySet(ctx, tid)
	if err != nil {
		return nil, wrapError(CodeTemporarilyUnavailable, fmt.Errorf("signing keys: %w", err))
	}
	jwks, err := keys.PublicJWKS(ks)
	if err != nil {
		return nil, ServerError(err)
	}
	tk := &tenantKeys{loaded: c.now(), gen: gen, seq: seq, keys: ks, jwks: jwks, public: map[string]jose.JSONWebKey{},
		signers: map[string]jose.Signer{}, opened: map[string]crypto.Signer{}}
	for _, k := range ks {
		if k.TenantID != tid {
			return nil, ServerError(fmt.Errorf("key %s belongs to another tenant", k.ID))
		}
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
			return nil, ServerError(fmt.Errorf("key %s: public JWK: %w", k.ID, err))
		}
		jwk.KeyID, jwk.Algorithm, jwk.Use = k.ID, string(k.Alg), "sig"
		tk.public[k.ID] = jwk
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.tenants[tid]; ok {
		if prev.gen > gen {
			// This replica is behind the one the cached keys came from: keep them, as
			// fresh as this read (they are at least as new as what it shows).
			kept := *prev
			kept.loaded, kept.seq = tk.loaded, seq
			tk = &kept
		} else { // keys still listed keep what was opened for them
			for kid, priv := range prev.opened {
				if _, listed := tk.public[kid]; listed {
					tk.opened[kid] = priv
				}
			}
			for id, s := range prev.signers {
				if kid, _, _ := strings.Cut(id, "|"); tk.opened[kid] != nil {
					tk.signers[id] = s
				}
			}
		}
	}
	c.tenants[tid] = tk
	c.settle(tid, tk)
	return tk, nil
}

// keysChanged takes a change notification: tid's keys were replaced, and the tenant's
// key generation is now gen. Keys cached before it are outdated at once (the next
// request reads again), and a goroutine reads them again now and then with backoff
// until the store shows gen — at most len(c.backoff)+1 reads in about
// changeRefreshWindow, one at a time with the requests' reads. A tenant not cached
// here is read on its first use; if that read shows an older generation, the retries
// start then. After the last retry the TTL bounds staleness, as without notifications.
// It never blocks on the store; ctx ends the retries.
func (c *keyCache) keysChanged(ctx context.Context, tid uuid.UUID, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tk, cached := c.tenants[tid]
	if cached && tk.gen >= gen {
		return // this process read the new keys already
	}
	now := c.clock()
	p := c.pending[tid]
	if p == nil {
		if len(c.pending) >= maxPendingKeys {
			for id, q := range c.pending { // drop the expired ones not retrying
				if !q.running && !now.Before(q.expires) {
					delete(c.pending, id)
				}
			}
		}
		if len(c.pending) >= maxPendingKeys {
			c.log.Debug("signing keys: too many announced rotations at once; this one waits for the cache TTL",
				"tenant", tid.String(), "generation", gen)
			return
		}
		p = &pendingKeys{ctx: ctx}
		c.pending[tid] = p
	}
	c.seq++
	p.gen, p.seq, p.expires = max(p.gen, gen), c.seq, now.Add(changeRefreshWindow)
	if cached && !p.running {
		p.running = true
		go c.refresh(tid, p)
	}
}

// settle compares a fresh read of tid with what was announced: an announced generation
// it shows is done with; one it does not show yet starts the retries, unless they run
// already or their time is up. c.mu is held.
func (c *keyCache) settle(tid uuid.UUID, tk *tenantKeys) {
	p := c.pending[tid]
	switch {
	case p == nil:
	case tk.gen >= p.gen:
		delete(c.pending, tid)
	case p.running:
	case !c.clock().Before(p.expires):
		delete(c.pending, tid)
	default:
		p.running = true
		go c.refresh(tid, p)
	}
}

// refresh reads tid's keys until a read shows p's generation (settle then drops p), at
// most len(c.backoff)+1 times; then it gives up, leaving the TTL to bound staleness.
func (c *keyCache) refresh(tid uuid.UUID, p *pendingKeys) {
	for attempt := 0; ; attempt++ {
		var err error
		if p.ctx.Err() == nil {
			_, err = c.fetch(p.ctx, tid)
		}
		c.mu.Lock()
		if c.pending[tid] != p {
			c.mu.Unlock()
			return // settled, or given up and announced anew (another goroutine runs)
		}
		if attempt >= len(c.backoff) || p.ctx.Err() != nil {
			delete(c.pending, tid)
			want, have := p.gen, int64(-1)
			if tk, ok := c.tenants[tid]; ok {
				have = tk.gen
			}
			c.mu.Unlock()
			c.log.Debug("signing keys: the key store does not show the announced generation; the cache TTL bounds staleness",
				"tenant", tid.String(), "want_generation", want, "have_generation", have, "reads", attempt+1,
				"last_error", errString(err))
			return
		}
		wait := c.backoff[attempt]
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// KeysChanged tells the provider that tenantID's signing keys were replaced and that the
// tenant's key generation is now generation (a change notification from the admin tier,
// internal/changes). Keys cached before it are read again on their next use, and in the
// background with backoff until the key store — a replica, which may lag — shows that
// generation, for about 10 s at most; after that the cache TTL bounds staleness as
// without notifications. It returns at once; ctx (the subscription's lifetime) ends the
// retries.
func (p *Provider) KeysChanged(ctx context.Context, tenantID uuid.UUID, generation int64) {
	p.keys.keysChanged(ctx, tenantID, generation)
}

// signer returns a signer with the tenant's current key of alg, setting the JOSE "typ"
// header to typ ("JWT" for ID tokens, "at+jwt" for access tokens, RFC 9068 §2.1).
func (c *keyCache) signer(ctx context.Context, tid uuid.UUID, alg keys.Alg, typ string) (jose.Signer, jose.SignatureAlgorithm, error) {
	tk, err := c.load(ctx, tid)
	if err != nil {
		return nil, "", err
	}
	var cur *keys.Key
	for i := range tk.keys {
		if tk.keys[i].Alg == alg && tk.keys[i].State == keys.Current {
			cur = &tk.keys[i]
			break
		}
	}
	if cur == nil {
		return nil, "", ServerError(fmt.Errorf("tenant %s has no current %s key", tid, alg))
	}
	id := cur.ID + "|" + typ
	c.mu.Lock()
	s, ok := tk.signers[id]
	priv := tk.opened[cur.ID]
	c.mu.Unlock()
	if ok {
		return s, jose.SignatureAlgorithm(alg), nil
	}
	if priv == nil {
		if priv, err = openKey(*cur, c.kek); err != nil {
			return nil, "", ServerError(err)
		}
	}
	s, err = jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg),
		Key:       jose.JSONWebKey{Key: privateKey(priv), KeyID: cur.ID, Algorithm: string(alg)},
	}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, "", ServerError(err)
	}
	c.mu.Lock()
	tk.signers[id] = s
	tk.opened[cur.ID] = priv
	c.mu.Unlock()
	return s, jose.SignatureAlgorithm(alg), nil
}

// privateKey unwraps a crypto.Signer into the concrete key go-jose accepts.
func privateKey(s crypto.Signer) any { return s }

// publicKey returns the tenant's published key kid (any state), for verification.
func (c *keyCache) publicKey(ctx context.Context, tid uuid.UUID, kid string) (jose.JSONWebKey, error) {
	tk, err := c.load(ctx, tid)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	k, ok := tk.public[kid]
	if !ok {
		return jose.JSONWebKey{}, errors.New("unknown kid")
	}
	return k, nil
}

// signingAlgs is the allow-list of JWS algorithms nines signs and verifies with.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// sign serialises claims as a compact JWS.
func sign(s jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", ServerError(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", ServerError(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", ServerError(err)
	}
	return out, nil
}

// maxJWTLen bounds what the verifier parses (access tokens nines issues are < 2 KiB).
const maxJWTLen = 8 << 10

// verifyJWT checks a compact JWS signed by one of tid's published keys: the algorithm
// must be on the allow-list and equal to the key's algorithm, the "typ" header must be
// wantTyp, and the signature must verify. It returns the payload; claims are the
// caller's to check.
func (c *keyCache) verifyJWT(ctx context.Context, tid uuid.UUID, raw, wantTyp string) ([]byte, error) {
	if len(raw) > maxJWTLen {
		return nil, errors.New("token too long")
	}
	jws, err := jose.ParseSignedCompact(raw, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not exactly one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != wantTyp {
		return nil, fmt.Errorf("typ %q, want %q", typ, wantTyp)
	}
	key, err := c.publicKey(ctx, tid, h.KeyID)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("kid: %w", err)
	}
	if h.Algorithm != key.Algorithm {
		return nil, fmt.Errorf("alg %q does not match key alg %q", h.Algorithm, key.Algorithm)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return payload, nil
}
