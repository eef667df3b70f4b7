package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/login"
	"github.com/ninesid/nines/internal/user"
)

// faultBucket is a KV bucket that fails chosen operations on demand (ErrUnavailable,
// as a timeout would) and records the largest value written and the deletes made.
type faultBucket struct {
	kv.Bucket
	mu       sync.Mutex
	fail     map[string]int // operation → failures still to inject
	maxValue int
	deletes  int
}

func newFaultBucket() *faultBucket { return &faultBucket{fail: map[string]int{}} }

// failNext makes the next n calls of op fail.
func (b *faultBucket) failNext(op string, n int) {
	b.mu.Lock()
	b.fail[op] = n
	b.mu.Unlock()
}

func (b *faultBucket) inject(op string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxValue = max(b.maxValue, len(value))
	if b.fail[op] > 0 {
		b.fail[op]--
		return fmt.Errorf("%w: injected %s failure", kv.ErrUnavailable, op)
	}
	return nil
}

func (b *faultBucket) largest() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxValue
}

func (b *faultBucket) deleted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deletes
}

func (b *faultBucket) Get(ctx context.Context, key string) (kv.Entry, error) {
	if err := b.inject("Get", nil); err != nil {
		return kv.Entry{}, err
	}
	return b.Bucket.Get(ctx, key)
}

func (b *faultBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := b.inject("Create", value); err != nil {
		return 0, err
	}
	return b.Bucket.Create(ctx, key, value)
}

func (b *faultBucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := b.inject("Update", value); err != nil {
		return 0, err
	}
	return b.Bucket.Update(ctx, key, value, rev)
}

func (b *faultBucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := b.inject("Put", value); err != nil {
		return 0, err
	}
	return b.Bucket.Put(ctx, key, value)
}

func (b *faultBucket) Delete(ctx context.Context, key string, rev uint64) error {
	if err := b.inject("Delete", nil); err != nil {
		return err
	}
	b.mu.Lock()
	b.deletes++
	b.mu.Unlock()
	return b.Bucket.Delete(ctx, key, rev)
}

func (b *faultBucket) Consume(ctx context.Context, key string) (kv.Entry, error) {
	if err := b.inject("Consume", nil); err != nil {
		return kv.Entry{}, err
	}
	return b.Bucket.Consume(ctx, key)
}

// wrapBucket is a Config option that puts fb in front of the bucket pick selects.
func wrapBucket(fb *faultBucket, pick func(*kv.Buckets) *kv.Bucket) func(*Config) {
	return func(c *Config) {
		b := pick(&c.Buckets)
		fb.Bucket = *b
		*b = fb
	}
}

// flakyUsers is a user reader whose User fails on demand (a replica down).
type flakyUsers struct {
	login.UserReader
	mu       sync.Mutex
	failures int
}

func (f *flakyUsers) failNext(n int) { f.mu.Lock(); f.failures = n; f.mu.Unlock() }

func (f *flakyUsers) User(ctx context.Context, tid, id uuid.UUID) (user.User, error) {
	f.mu.Lock()
	fail := f.failures > 0
	if fail {
		f.failures--
	}
	f.mu.Unlock()
	if fail {
		return user.User{}, errors.New("replica down")
	}
	return f.UserReader.User(ctx, tid, id)
}

// TestRefreshSurvivesTransientFailures: a failure while refreshing (user store, KV
// write of the new token, KV write spending the old one) is a 503 that leaves the
// presented refresh token unspent, so the client's retry with the same token works and
// the family lives on; it is not mistaken for reuse.
func TestRefreshSurvivesTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(fu *flakyUsers, fb *faultBucket)
	}{
		{"user store down", func(fu *flakyUsers, _ *faultBucket) { fu.failNext(1) }},
		{"new refresh token not stored", func(_ *flakyUsers, fb *faultBucket) { fb.failNext("Create", 1) }},
		{"old refresh token not spent", func(_ *flakyUsers, fb *faultBucket) { fb.failNext("Update", 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fu, fb := &flakyUsers{}, newFaultBucket()
			w := newWorld(t, func(c *Config) { c.Users = fu }, wrapBucket(fb, func(b *kv.Buckets) *kv.Bucket { return &b.Refresh }))
			fu.UserReader = w
			tok, _ := grantTokens(t, w, "acme", "web")
			rt := str(tok, "refresh_token")
			deletes := fb.deleted()
			tc.inject(fu, fb)
			if status, out := refreshWith(t, w, "acme", "web", rt); status != http.StatusServiceUnavailable || out["error"] != "temporarily_unavailable" {
				t.Fatalf("refresh during the failure: %d %v", status, out)
			}
			if tc.name == "old refresh token not spent" && fb.deleted() != deletes+1 {
				t.Errorf("the orphan new refresh token was not deleted (%d deletes)", fb.deleted()-deletes)
			}
			status, next := refreshWith(t, w, "acme", "web", rt)
			if status != http.StatusOK {
				t.Fatalf("retry with the same refresh token: %d %v", status, next)
			}
			if in := introspectAs(t, w, "acme", "web", str(next, "access_token")); in["active"] != true {
				t.Errorf("family revoked by the retry: %v", in)
			}
			if status, out := refreshWith(t, w, "acme", "web", str(next, "refresh_token")); status != http.StatusOK {
				t.Errorf("next rotation: %d %v", status, out)
			}
		})
	}
}

// TestRefreshRaceOneWinsAndRevokes: of concurrent presentations of one refresh token at
// most one gets tokens, and a lost race is reuse: the family ends, the winner's new
// refresh token included.
func TestRefreshRaceOneWinsAndRevokes(t *testing.T) {
	w := newWorld(t)
	tok, _ := grantTokens(t, w, "acme", "web")
	const n = 20
	outs := make([]map[string]any, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], outs[i] = refreshWith(t, w, "acme", "web", str(tok, "refresh_token"))
		}()
	}
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			won++
			if st, out := refreshWith(t, w, "acme", "web", str(outs[i], "refresh_token")); st != http.StatusBadRequest {
				t.Errorf("winner's refresh token after a lost race: %d %v", st, out)
			}
		case http.StatusBadRequest:
		default:
			t.Errorf("status %d", s)
		}
	}
	if won > 1 {
		t.Fatalf("%d of %d concurrent rotations succeeded", won, n)
	}
}

// TestCodeIsNotSpentByAFailedRedemption: a redemption that fails a check (wrong
// code_verifier, wrong redirect_uri) or hits a transient failure does not burn the code;
// the rightful redemption still works afterwards, and a replay after it revokes.
func TestCodeIsNotSpentByAFailedRedemption(t *testing.T) {
	fu, fb := &flakyUsers{}, newFaultBucket()
	w := newWorld(t, func(c *Config) { c.Users = fu }, wrapBucket(fb, func(b *kv.Buckets) *kv.Bucket { return &b.Codes }))
	fu.UserReader = w
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	attempt := func(form url.Values) (int, map[string]any) {
		return postForm(t, w.issuer("acme")+"/token", form, "web", w.secret("acme", "web"))
	}
	base := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}}
	}
	wrongVerifier, wrongRedirect, noVerifier := base(), base(), base()
	wrongVerifier.Set("code_verifier", oauth2.GenerateVerifier())
	wrongRedirect.Set("redirect_uri", callback+"/other")
	noVerifier.Del("code_verifier")
	for name, form := range map[string]url.Values{"wrong verifier": wrongVerifier, "wrong redirect_uri": wrongRedirect, "no verifier": noVerifier} {
		if status, out := attempt(form); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
	fu.failNext(1)
	if status, out := attempt(base()); status != http.StatusServiceUnavailable {
		t.Errorf("user store down: %d %v", status, out)
	}
	fb.failNext("Update", 1)
	if status, out := attempt(base()); status != http.StatusServiceUnavailable {
		t.Errorf("code not spent (KV down): %d %v", status, out)
	}
	status, tok := attempt(base())
	if status != http.StatusOK {
		t.Fatalf("rightful redemption after failed ones: %d %v", status, tok)
	}
	if in := introspectAs(t, w, "acme", "web", str(tok, "access_token")); in["active"] != true {
		t.Fatalf("fresh access token inactive: %v", in)
	}
	// A replay, even with a wrong verifier, is reuse: everything the code gave is revoked.
	if status, out := attempt(wrongVerifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("replay: %d %v", status, out)
	}
	if in := introspectAs(t, w, "acme", "web", str(tok, "access_token")); in["active"] != false {
		t.Errorf("access token still active after the code was replayed: %v", in)
	}
	if status, _ := refreshWith(t, w, "acme", "web", str(tok, "refresh_token")); status != http.StatusBadRequest {
		t.Errorf("refresh token still works after the code was replayed: %d", status)
	}
}

// TestRedeemedCodeIsKeptAsAMarker: a redeemed code stays in the bucket marked redeemed
// (one compare-and-swap, no delete-then-put window), so any later presentation is
// recognised as reuse, not as an unknown code.
func TestRedeemedCodeIsKeptAsAMarker(t *testing.T) {
	w := newWorld(t)
	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	code := r.signIn(t, newBrowser(t), verifier)
	status, tok := redeem(t, w, "acme", "web", code, verifier)
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	tn := w.tenant("acme")
	e, err := w.buckets.Codes.Get(context.Background(), kvKey(tn.ID, kindCode, digest(code)))
	if err != nil || !strings.Contains(string(e.Value), `"red":true`) {
		t.Fatalf("redeemed code not kept as a marker: %v %s", err, e.Value)
	}
}
