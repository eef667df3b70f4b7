package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkInstrument measures what the HTTP metrics add to a request, against the
// same mux without them.
func BenchmarkInstrument(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{tenant}/authorize", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusFound) })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"plain", mux}, {"instrumented", newRegistry().Instrument(mux)}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/t/acme/authorize", nil)
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkScrape measures one scrape of a registry with the runtime and process
// collectors and one HTTP route.
func BenchmarkScrape(b *testing.B) {
	r := newRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(http.ResponseWriter, *http.Request) {})
	r.Instrument(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ok", nil))
	h := r.Handler()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}
}
