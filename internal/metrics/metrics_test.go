package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/bus"
	"github.com/ninesid/nines/internal/metrics"
	"github.com/ninesid/nines/internal/store"
	"github.com/ninesid/nines/internal/worker"
)

// scrape returns the registry's text exposition.
func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

const labels = `cluster="c1",region="eu",role="login",zone="eu-a"`

func newRegistry() *metrics.Registry {
	return metrics.New(metrics.Labels{Role: "login", Region: "eu", Cluster: "c1", Zone: "eu-a"})
}

// TestInstrument: requests are counted and timed by route pattern and status, never
// by raw path; unmatched requests share one series; a panic counts as a 500.
func TestInstrument(t *testing.T) {
	r := newRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{tenant}/authorize", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusFound) })
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := r.Instrument(mux)
	for _, path := range []string{"/t/acme/authorize?code=secret", "/t/other/authorize", "/ok", "/no/such/secret-path"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not go on past Instrument")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/panic", nil))
	}()
	text := scrape(t, r)
	mustContain(t, text,
		`nines_http_requests_total{cluster="c1",code="302",region="eu",role="login",route="GET /t/{tenant}/authorize",zone="eu-a"} 2`,
		`nines_http_requests_total{cluster="c1",code="200",region="eu",role="login",route="GET /ok",zone="eu-a"} 1`,
		`nines_http_requests_total{cluster="c1",code="404",region="eu",role="login",route="unmatched",zone="eu-a"} 1`,
		`nines_http_requests_total{cluster="c1",code="500",region="eu",role="login",route="GET /panic",zone="eu-a"} 1`,
		`nines_http_request_duration_seconds_count{cluster="c1",region="eu",role="login",route="GET /t/{tenant}/authorize",zone="eu-a"} 2`,
		`go_goroutines{`+labels+`}`,
		`process_cpu_seconds_total{`+labels+`}`,
	)
	for _, leak := range []string{"acme", "secret", "/no/such"} {
		if strings.Contains(text, leak) {
			t.Errorf("metrics contain request data %q", leak)
		}
	}
}

// TestCollectors: the spool, worker, database and lag collectors read their sources
// at scrape time.
func TestCollectors(t *testing.T) {
	r := newRegistry()
	st := bus.Stats{Depth: 3, Bytes: 300, OldestAge: 1500 * time.Millisecond, Published: 7, Spooled: 3, Flushed: 1, Dropped: 2, BrokerDown: true}
	since := time.Unix(1700000000, 0)
	r.Register(
		metrics.Commands{Stats: func() bus.Stats { return st }},
		metrics.Worker{Stats: func() worker.Stats { return worker.Stats{Applied: 5, Duplicates: 1, Retried: 2, DeadLettered: 1} }},
		metrics.Databases{
			Health: func(context.Context) []store.DBHealth {
				return []store.DBHealth{{Name: "r1:5432", Role: "replica", Healthy: true, Since: since}, {Name: "r2:5432", Role: "replica"}}
			},
			Lag: func() []metrics.ReplicaLag {
				return []metrics.ReplicaLag{{Database: "r1:5432", Known: true, Seconds: 0.25, ReplayBacklogBytes: 128}, {Database: "r2:5432"}}
			},
		},
	)
	text := scrape(t, r)
	mustContain(t, text,
		`nines_commands_spool_depth{`+labels+`} 3`,
		`nines_commands_spool_bytes{`+labels+`} 300`,
		`nines_commands_spool_oldest_age_seconds{`+labels+`} 1.5`,
		`nines_commands_broker_down{`+labels+`} 1`,
		`nines_commands_total{cluster="c1",outcome="spooled",region="eu",role="login",zone="eu-a"} 3`,
		`nines_commands_total{cluster="c1",outcome="dropped",region="eu",role="login",zone="eu-a"} 2`,
		`nines_commands_total{cluster="c1",outcome="flushed",region="eu",role="login",zone="eu-a"} 1`,
		`nines_worker_commands_total{cluster="c1",outcome="applied",region="eu",role="login",zone="eu-a"} 5`,
		`nines_worker_commands_total{cluster="c1",outcome="dead_lettered",region="eu",role="login",zone="eu-a"} 1`,
		`nines_database_up{cluster="c1",database="r1:5432",db_role="replica",region="eu",role="login",zone="eu-a"} 1`,
		`nines_database_up{cluster="c1",database="r2:5432",db_role="replica",region="eu",role="login",zone="eu-a"} 0`,
		`nines_database_state_since_seconds{cluster="c1",database="r1:5432",db_role="replica",region="eu",role="login",zone="eu-a"} 1.7e+09`,
		`nines_database_replica_lag_seconds{cluster="c1",database="r1:5432",region="eu",role="login",zone="eu-a"} 0.25`,
		`nines_database_replica_replay_backlog_bytes{cluster="c1",database="r1:5432",region="eu",role="login",zone="eu-a"} 128`,
	)
	if strings.Contains(text, `replica_lag_seconds{cluster="c1",database="r2:5432"`) {
		t.Error("an unmeasured lag is exported (it must be absent, not 0)")
	}
	st.Depth = 0 // read at every scrape
	mustContain(t, scrape(t, r), `nines_commands_spool_depth{`+labels+`} 0`)
}
