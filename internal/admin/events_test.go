package admin

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/event"
	"github.com/ninesid/nines/internal/worker"
)

// addEvents stores events in the tenant slug the way the worker does.
func (e *env) addEvents(slug string, evs ...event.Event) []event.Event {
	e.t.Helper()
	ctx := context.Background()
	tn, err := e.store.TenantBySlug(ctx, slug)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]event.Event, 0, len(evs))
	for _, ev := range evs {
		id := uuid.Must(uuid.NewV7())
		ev.ID = id
		_, err := e.store.ApplyCommand(ctx, id.String(), "audit.event", tn.ID, func(tx *sql.Tx) error {
			stored, err := e.store.InsertEventTx(ctx, tx, tn.ID, ev)
			out = append(out, stored)
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

func TestListEvents(t *testing.T) {
	e := newEnv(t)
	slug, other := e.mkTenant("acme"), e.mkTenant("other")
	alice, bob := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	evs := e.addEvents(slug,
		event.Event{Type: event.TypeSignedIn, UserID: alice, At: t0},
		event.Event{Type: event.TypeSignInFailed, UserID: bob, At: t0.Add(time.Minute), Data: json.RawMessage(`{"source_digest":"abcd"}`)},
		event.Event{Type: event.TypeSignedIn, UserID: bob, At: t0.Add(2 * time.Minute)},
		event.Event{Type: "consent.granted", At: t0.Add(3 * time.Minute)},
	)
	e.addEvents(other, event.Event{Type: event.TypeSignedIn, UserID: alice, At: t0})
	path := "/admin/v1/tenants/" + slug + "/events"
	ids := func(r resp) []string {
		var out []string
		for _, it := range r.items() {
			out = append(out, it["id"].(string))
		}
		return out
	}
	want := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, evs[i].ID.String())
		}
		return out
	}
	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"all", nil, want(0, 1, 2, 3)},
		{"type", url.Values{"type": {event.TypeSignedIn}}, want(0, 2)},
		{"user", url.Values{"user_id": {bob.String()}}, want(1, 2)},
		{"since inclusive", url.Values{"since": {t0.Add(2 * time.Minute).Format(time.RFC3339)}}, want(2, 3)},
		{"until exclusive", url.Values{"until": {t0.Add(time.Minute).Format(time.RFC3339)}}, want(0)},
		{"window and type", url.Values{"type": {event.TypeSignedIn}, "since": {"2026-11-21T10:00:30+01:00"},
			"until": {t0.Add(time.Hour).Format(time.RFC3339Nano)}}, want(2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(e.as(http.MethodGet, path+"?"+tc.query.Encode(), "").want(http.StatusOK))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("shape", func(t *testing.T) {
		it := e.as(http.MethodGet, path+"?limit=2", "").want(http.StatusOK).items()[1]
		if it["type"] != event.TypeSignInFailed || it["user_id"] != bob.String() || it["at"] != "2026-11-21T09:01:00Z" {
			t.Errorf("event %v", it)
		}
		if d, _ := it["data"].(map[string]any); d["source_digest"] != "abcd" {
			t.Errorf("data %v", it["data"])
		}
		if _, ok := e.as(http.MethodGet, path+"?type=consent.granted", "").items()[0]["user_id"]; ok {
			t.Error("an event about no user has a user_id")
		}
	})
	t.Run("pages", func(t *testing.T) {
		var got []string
		cursor := ""
		for range 10 {
			q := url.Values{"limit": {"1"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			r := e.as(http.MethodGet, path+"?"+q.Encode(), "").want(http.StatusOK)
			got = append(got, ids(r)...)
			if cursor = r.str("next_cursor"); cursor == "" {
				break
			}
		}
		if !slices.Equal(got, want(0, 1, 2, 3)) {
			t.Errorf("paged ids %v", got)
		}
	})
	t.Run("bad filters", func(t *testing.T) {
		for _, q := range []string{"user_id=nope", "user_id=" + uuid.Nil.String(), "since=yesterday",
			"until=2026-11-21", "since=2026-11-21T10:00:00Z&until=2026-11-21T09:00:00Z", "type=a&type=b",
			"limit=0", "cursor=nope"} {
			e.as(http.MethodGet, path+"?"+q, "").problem(http.StatusBadRequest, "malformed-request")
		}
	})
	t.Run("scoped tokens", func(t *testing.T) {
		mine, theirs := e.token("acme", &slug, time.Time{}), e.token("other", &other, time.Time{})
		if n := len(e.do(req{Method: http.MethodGet, Path: path, Token: mine}).want(http.StatusOK).items()); n != 4 {
			t.Errorf("acme's token sees %d events, want 4", n)
		}
		e.do(req{Method: http.MethodGet, Path: path, Token: theirs}).problem(http.StatusForbidden, "forbidden")
		if n := len(e.as(http.MethodGet, "/admin/v1/tenants/"+other+"/events", "").items()); n != 1 {
			t.Errorf("other tenant has %d events, want 1", n)
		}
	})
}

// fakeDLQ is an in-memory DeadLetters.
type fakeDLQ struct {
	mu       sync.Mutex
	letters  []worker.DeadLetter
	replayed []uint64
}

func (f *fakeDLQ) List(_ context.Context, after uint64, limit int) ([]worker.DeadLetter, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []worker.DeadLetter
	for _, d := range f.letters {
		if d.ID > after {
			if len(out) == limit {
				return out, out[len(out)-1].ID, nil
			}
			out = append(out, d)
		}
	}
	return out, 0, nil
}

func (f *fakeDLQ) Replay(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.letters {
		if d.ID == id {
			f.letters = slices.Delete(f.letters, i, i+1)
			f.replayed = append(f.replayed, id)
			return nil
		}
	}
	return worker.ErrNoDeadLetter
}

func TestDeadLetters(t *testing.T) {
	dlq := &fakeDLQ{}
	for i := range 3 {
		dlq.letters = append(dlq.letters, worker.DeadLetter{ID: uint64(10 + i), CommandID: "c" + strconv.Itoa(i),
			Subject: "nines.cmd.user.signed_in", Error: "boom", Deliveries: 5, DeadAt: time.Unix(0, 0).UTC()})
	}
	e := newEnv(t, func(c *Config) { c.DeadLetters = dlq })
	slug := e.mkTenant("acme")
	r := e.as(http.MethodGet, "/admin/v1/deadletters?limit=2", "").want(http.StatusOK)
	if items := r.items(); len(items) != 2 || items[0]["command_id"] != "c0" || items[1]["deliveries"] != float64(5) {
		t.Fatalf("first page %v", items)
	}
	r = e.as(http.MethodGet, "/admin/v1/deadletters?limit=2&cursor="+r.str("next_cursor"), "").want(http.StatusOK)
	if items := r.items(); len(items) != 1 || items[0]["id"] != float64(12) || r.str("next_cursor") != "" {
		t.Fatalf("second page %s", r.Body.String())
	}
	e.as(http.MethodPost, "/admin/v1/deadletters/11/replay", "").want(http.StatusNoContent)
	e.as(http.MethodPost, "/admin/v1/deadletters/11/replay", "").problem(http.StatusNotFound, "not-found")
	e.as(http.MethodPost, "/admin/v1/deadletters/x/replay", "").problem(http.StatusNotFound, "not-found")
	e.as(http.MethodGet, "/admin/v1/deadletters?cursor=nope", "").problem(http.StatusBadRequest, "malformed-request")
	if !slices.Equal(dlq.replayed, []uint64{11}) {
		t.Errorf("replayed %v, want [11]", dlq.replayed)
	}
	scoped := e.token("acme", &slug, time.Time{})
	e.do(req{Method: http.MethodGet, Path: "/admin/v1/deadletters", Token: scoped}).problem(http.StatusForbidden, "forbidden")
	e.do(req{Method: http.MethodPost, Path: "/admin/v1/deadletters/10/replay", Token: scoped}).problem(http.StatusForbidden, "forbidden")

	t.Run("no queue", func(t *testing.T) {
		e := newEnv(t)
		e.as(http.MethodGet, "/admin/v1/deadletters", "").problem(http.StatusServiceUnavailable, "unavailable")
		e.as(http.MethodPost, "/admin/v1/deadletters/1/replay", "").problem(http.StatusServiceUnavailable, "unavailable")
	})
}
