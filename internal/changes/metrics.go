package changes

import "github.com/prometheus/client_golang/prometheus"

// Collector exports a Publisher's and a Subscriber's counters, read at every scrape;
// either may be nil (a role that only publishes, or only subscribes). The registry adds
// the process's constant labels (internal/metrics).
type Collector struct {
	Publisher  *Publisher
	Subscriber *Subscriber
}

var (
	publishedDesc = prometheus.NewDesc("nines_changes_published_total",
		"Change notifications for the login tier since the process started, by outcome: published (handed to NATS), "+
			"failed (not sent; the login tier picks the write up within its cache TTL).", []string{"outcome"}, nil)
	receivedDesc = prometheus.NewDesc("nines_changes_received_total",
		"Change notifications received since the process started, by outcome: handled, malformed, oversized, "+
			"unknown_kind (dropped).", []string{"outcome"}, nil)
	unknownFieldsDesc = prometheus.NewDesc("nines_changes_unknown_fields_total",
		"Change notifications handled although they had members this version does not know (a newer publisher).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.Publisher != nil {
		ch <- publishedDesc
	}
	if c.Subscriber != nil {
		ch <- receivedDesc
		ch <- unknownFieldsDesc
	}
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if p := c.Publisher; p != nil {
		st := p.Stats()
		counter(publishedDesc, st.Published, "published")
		counter(publishedDesc, st.Failed, "failed")
	}
	if s := c.Subscriber; s != nil {
		st := s.Stats()
		counter(receivedDesc, st.Handled, "handled")
		counter(receivedDesc, st.Malformed, "malformed")
		counter(receivedDesc, st.Oversized, "oversized")
		counter(receivedDesc, st.UnknownKind, "unknown_kind")
		counter(unknownFieldsDesc, st.UnknownFields)
	}
}
