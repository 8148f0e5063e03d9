package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
)

// promMetrics adapts connector.Metrics to Prometheus. It is safe for
// concurrent use.
type promMetrics struct {
	requests   *prometheus.CounterVec
	reqLatency *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	pruned     *prometheus.CounterVec
	callbacks  *prometheus.CounterVec
}

var _ connector.Metrics = (*promMetrics)(nil)

func newPromMetrics(reg prometheus.Registerer) *promMetrics {
	const ns = "pushwire_connector"
	m := &promMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "status"}),
		reqLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help: "HTTP request duration by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "deliveries_total",
			Help: "Pushes to devices by provider and outcome."}, []string{"provider", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "delivery_duration_seconds",
			Help: "Duration of one push to one device, retries included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"provider"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "pruned_tokens_total",
			Help: "Dead device tokens removed from the registry."}, []string{"provider"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "callbacks_total",
			Help: "Verified AXP callbacks by result."}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.reqLatency, m.deliveries, m.latency, m.pruned, m.callbacks)
	return m
}

func (m *promMetrics) Request(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.reqLatency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *promMetrics) Delivery(p pushwire.Provider, outcome string, d time.Duration) {
	m.deliveries.WithLabelValues(string(p), outcome).Inc()
	m.latency.WithLabelValues(string(p)).Observe(d.Seconds())
}

func (m *promMetrics) Pruned(p pushwire.Provider) { m.pruned.WithLabelValues(string(p)).Inc() }

func (m *promMetrics) Callback(result string) { m.callbacks.WithLabelValues(result).Inc() }
