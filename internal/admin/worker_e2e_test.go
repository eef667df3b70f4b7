package admin

import (
	"context"
	"github.com/ninesid/nines/internal/bus"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ninesid/nines/internal/command"
	"github.com/ninesid/nines/internal/natsd"
	"github.com/ninesid/nines/internal/user"
	"github.com/ninesid/nines/internal/worker"
)

// TestWorkerEventsAndDeadLetters runs the worker on an embedded broker against the
// API's store: the events it writes are listed with filters, and a dead letter is listed
// and replayed through the API.
func TestWorkerEventsAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	ns, err := natsd.Start(ctx, natsd.Options{StoreDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := ns.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "e2e"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamName(prefix),
		Subjects: []string{prefix + ".cmd.>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.DeadLetters = worker.NewDLQ(js, prefix) })
	slug := e.mkTenant("acme")
	tn, err := e.store.TenantBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	uid := e.as(http.MethodPost, "/admin/v1/tenants/"+slug+"/users", `{"username":"alice"}`).want(http.StatusCreated).str("id")
	userID := uuid.MustParse(uid)

	w := worker.New(worker.Config{JS: js, Prefix: prefix, Store: e.store, MaxDeliver: 2,
		Backoff: []time.Duration{10 * time.Millisecond}, AckWait: time.Second, Logger: slog.New(slog.DiscardHandler)})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	cmds := []command.Command{
		must(command.NewSignedIn(tn.ID, userID, t0))(t),
		must(command.NewSignInFailed(tn.ID, uuid.Nil, strings.Repeat("cd", 16), "invalid_credentials", t0.Add(time.Minute)))(t),
		must(command.NewSignedIn(tn.ID, userID, t0.Add(2*time.Minute)))(t),
		must(command.NewAuditEvent(tn.ID, t0.Add(3*time.Minute), command.AuditEvent{Type: "consent.granted", Actor: "user:" + uid}))(t),
	}
	for _, c := range cmds {
		publishCmd(t, js, prefix, c)
	}
	// A sign-in of a user that does not exist (yet) is dead-lettered at once.
	lateID := uuid.Must(uuid.NewV7())
	late := must(command.NewSignedIn(tn.ID, lateID, t0.Add(4*time.Minute)))(t)
	publishCmd(t, js, prefix, late)
	path := "/admin/v1/tenants/" + slug + "/events"
	waitUntil(t, "four events and a dead letter", func() bool {
		return len(e.as(http.MethodGet, path, "").want(http.StatusOK).items()) == 4 && w.Stats().DeadLettered == 1
	})

	tests := []struct {
		name  string
		query url.Values
		want  []string // command IDs, which are the event IDs
	}{
		{"sign-ins", url.Values{"type": {"user.signed_in"}}, []string{cmds[0].ID, cmds[2].ID}},
		{"failures", url.Values{"type": {"user.sign_in_failed"}}, []string{cmds[1].ID}},
		{"user", url.Values{"user_id": {uid}}, []string{cmds[0].ID, cmds[2].ID}},
		{"window", url.Values{"since": {t0.Add(time.Minute).Format(time.RFC3339)}, "until": {t0.Add(3 * time.Minute).Format(time.RFC3339)}},
			[]string{cmds[1].ID, cmds[2].ID}},
		{"audit", url.Values{"type": {"consent.granted"}}, []string{cmds[3].ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, it := range e.in(t).as(http.MethodGet, path+"?"+tc.query.Encode(), "").want(http.StatusOK).items() {
				got = append(got, it["id"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
		})
	}

	// The dead letter, listed and replayed once the user exists.
	items := e.as(http.MethodGet, "/admin/v1/deadletters", "").want(http.StatusOK).items()
	if len(items) != 1 || items[0]["command_id"] != late.ID || items[0]["deliveries"] != float64(1) {
		t.Fatalf("dead letters %v", items)
	}
	u, err := e.store.CreateUser(ctx, tn.ID, userWithID(lateID, "late"))
	if err != nil {
		t.Fatal(err)
	}
	seq := strconv.FormatFloat(items[0]["id"].(float64), 'f', -1, 64)
	e.as(http.MethodPost, "/admin/v1/deadletters/"+seq+"/replay", "").want(http.StatusNoContent)
	waitUntil(t, "the replayed sign-in", func() bool {
		return len(e.as(http.MethodGet, path+"?user_id="+u.ID.String(), "").want(http.StatusOK).items()) == 1
	})
	if n := len(e.as(http.MethodGet, "/admin/v1/deadletters", "").want(http.StatusOK).items()); n != 0 {
		t.Errorf("%d dead letters after the replay, want 0", n)
	}
	e.as(http.MethodPost, "/admin/v1/deadletters/"+seq+"/replay", "").problem(http.StatusNotFound, "not-found")
}

func must(c command.Command, err error) func(t *testing.T) command.Command {
	return func(t *testing.T) command.Command {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func publishCmd(t *testing.T, js jetstream.JetStream, prefix string, c command.Command) {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(c.Subject(prefix))
	m.Data = b
	m.Header.Set(jetstream.MsgIDHeader, c.ID)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond: at most 3000 polls of 10 ms; a bound, not an assertion on time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

func userWithID(id uuid.UUID, username string) user.User {
	return user.User{ID: id, Username: username, Status: user.StatusActive}
}
