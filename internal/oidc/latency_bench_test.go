package oidc

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkTokenLatency is a small load generator over real loopback HTTP: `workers`
// clients send client_credentials grants (RS256 and ES256) and, as the baseline in the
// same run, a hello-world handler on the same server. It reports requests/s and the
// p50/p99 latency of each. Speed is reported, never asserted.
func BenchmarkTokenLatency(b *testing.B) {
	w := newWorld(b)
	mux := w.srv.Config.Handler.(*http.ServeMux)
	mux.HandleFunc("POST /hello", func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"hello":"world"}`))
	})
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	cases := []struct{ name, path, client string }{
		{"hello-world", "/hello", "svc"},
		{"RS256", "/t/acme/token", "svc"},
		{"ES256", "/t/acme/token", "svc-es"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			secret := w.secret("acme", tc.client)
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			const workers = 4
			var (
				mu  sync.Mutex
				lat = make([]time.Duration, 0, b.N)
				wg  sync.WaitGroup
			)
			jobs := make(chan struct{}, b.N)
			for range b.N {
				jobs <- struct{}{}
			}
			close(jobs)
			b.ResetTimer()
			start := time.Now()
			for range workers {
				wg.Go(func() {
					for range jobs {
						req, _ := http.NewRequest(http.MethodPost, w.srv.URL+tc.path, strings.NewReader(form))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.SetBasicAuth(tc.client, secret)
						t0 := time.Now()
						resp, err := hc.Do(req)
						d := time.Since(t0)
						if err != nil || resp.StatusCode != http.StatusOK {
							b.Errorf("request failed: %v %v", err, resp)
							return
						}
						resp.Body.Close()
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lat) == 0 {
				return
			}
			slices.Sort(lat)
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
