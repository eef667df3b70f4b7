package oidc

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
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
// rotation is picked up within one TTL. A key's private half is opened once per process
// (by kid: a kid never names other key material) and carried over every reload while
// the key is still listed; JOSE signers are cached per (kid, typ).
type keyCache struct {
	reader KeyReader
	kek    []byte
	ttl    time.Duration
	now    func() time.Time

	group   singleflight.Group
	mu      sync.Mutex
	tenants map[uuid.UUID]*tenantKeys
}

type tenantKeys struct {
	loaded  time.Time
	keys    []keys.Key
	jwks    []byte
	public  map[string]jose.JSONWebKey // by kid
	signers map[string]jose.Signer     // by kid and typ: kid + "|" + typ
	opened  map[string]crypto.Signer   // opened private keys, by kid
}

// openKey opens a sealed private key; tests count the calls.
var openKey = func(k keys.Key, kek []byte) (crypto.Signer, error) { return k.Signer(kek) }

func newKeyCache(r KeyReader, kek []byte, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{reader: r, kek: kek, ttl: ttl, now: now, tenants: map[uuid.UUID]*tenantKeys{}}
}

// load returns tid's keys, reading them again when the cached copy is older than ttl.
func (c *keyCache) load(ctx context.Context, tid uuid.UUID) (*tenantKeys, error) {
	c.mu.Lock()
	tk, ok := c.tenants[tid]
	c.mu.Unlock()
	if ok && c.now().Sub(tk.loaded) < c.ttl {
		return tk, nil
	}
	// One read per tenant at a time, however many requests find the cache stale.
	// The read is shared, so it must not die with the first caller's request.
	v, err, _ := c.group.Do(tid.String(), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyReadTimeout)
		defer cancel()
		return c.reload(rctx, tid)
	})
	if err != nil {
		// The key store (a read replica) is down: keep signing with the keys we have for
		// up to staleKeysMax, so sign-in survives a replica outage (ARCHITECTURE.md §6).
		if ok && c.now().Sub(tk.loaded) < staleKeysMax {
			return tk, nil
		}
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
	ks, err := c.reader.SigningKeys(ctx, tid)
	if err != nil {
		return nil, wrapError(CodeTemporarilyUnavailable, fmt.Errorf("signing keys: %w", err))
	}
	jwks, err := keys.PublicJWKS(ks)
	if err != nil {
		return nil, ServerError(err)
	}
	tk := &tenantKeys{loaded: c.now(), keys: ks, jwks: jwks, public: map[string]jose.JSONWebKey{},
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
	if prev, ok := c.tenants[tid]; ok { // keys still listed keep what was opened for them
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
	c.tenants[tid] = tk
	c.mu.Unlock()
	return tk, nil
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
