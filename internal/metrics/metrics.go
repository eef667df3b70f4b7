package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace starts every nines series name.
const Namespace = "nines"

// Labels are the constant labels of every series of a process.
type Labels struct {
	Role, Region, Cluster, Zone string
}

// Unmatched is the route label of a request no pattern matched (a 404 or 405 from the
// mux): one series for all of them, whatever their paths.
const Unmatched = "unmatched"

// Registry is a process's metrics. Create it with New; the zero value is not usable.
type Registry struct {
	reg      *prometheus.Registry
	wrapped  prometheus.Registerer // reg with the constant labels
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a registry with the Go and process collectors and the HTTP metrics, all
// labelled with l.
func New(l Labels) *Registry {
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{
		"role": l.Role, "region": l.Region, "cluster": l.Cluster, "zone": l.Zone,
	}, reg)
	r := &Registry{
		reg:     reg,
		wrapped: wrapped,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern.",
			// From a cached discovery document to a password hash queued for a slot.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	wrapped.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.requests, r.duration,
	)
	return r
}

// Register adds collectors (the ones of this package, or others) to the registry, with
// the constant labels. It panics on a duplicate, which is a wiring bug.
func (r *Registry) Register(cs ...prometheus.Collector) { r.wrapped.MustRegister(cs...) }

// Gatherer is the registry, for tests and for other exporters.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus text (or OpenMetrics) format. A
// collector error is logged by the scraper's view as a 500 for that scrape only.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		Registry:          r.reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
		Timeout:           5 * time.Second,
	})
}

// Instrument counts and times every request next answers. It must wrap the ServeMux
// itself, receiving the same *http.Request the mux sees: the mux sets r.Pattern on it,
// and Instrument reads it after next returns. Wrapping a handler that replaces the
// request (r.WithContext) would see no pattern.
func (r *Registry) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route := req.Pattern
			if route == "" {
				route = Unmatched
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			if v := recover(); v != nil {
				// The panic is answered further out (500); count it as such, then let
				// it go on.
				r.observe(route, http.StatusInternalServerError, start)
				panic(v)
			}
			r.observe(route, code, start)
		}()
		next.ServeHTTP(sw, req)
	})
}

func (r *Registry) observe(route string, code int, start time.Time) {
	r.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	r.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
