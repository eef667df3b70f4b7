package edge

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkProxy is the edge in process in front of fake backends (for profiling the
// edge's own code; BenchmarkEdgeOverhead in cmd/nines measures real processes):
//
//	go test ./internal/edge -run '^$' -bench Proxy -cpuprofile cpu.out
func BenchmarkProxy(b *testing.B) {
	tc := newTwoClusters(b)
	te := startEdge(b, tc.routes(""), edgeOpts{})
	url := te.public + "/t/acme/.well-known/openid-configuration"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
