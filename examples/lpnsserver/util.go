package main

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushwire/pushwire/lpns"
)

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// metrics adapts lpns.Hooks to Prometheus.
type metrics struct {
	connections   prometheus.Gauge
	connects      prometheus.Counter
	disconnects   *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	keepaliveMiss prometheus.Counter
	sends         *prometheus.CounterVec
	ackLatency    *prometheus.HistogramVec
	lateAcks      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "lpns"
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections", Help: "Live device connections on this node."}),
		connects:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connects_total", Help: "Authenticated connections."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "disconnects_total",
			Help: "Ended connections by close code."}, []string{"code"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "auth_failures_total",
			Help: "Rejected upgrades and refreshes by reason."}, []string{"reason"}),
		keepaliveMiss: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "keepalive_timeouts_total", Help: "Connections closed for a missed keepalive."}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "sends_total",
			Help: "Sends by outcome and whether another node delivered them."}, []string{"outcome", "routed"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "send_duration_seconds",
			Help: "Send to ack (or failure).", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}, []string{"routed"}),
		lateAcks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "late_acks_total", Help: "Acks after the send gave up."}),
	}
	reg.MustRegister(m.connections, m.connects, m.disconnects, m.authFailures, m.keepaliveMiss, m.sends, m.ackLatency, m.lateAcks)
	return m
}

func (m *metrics) hooks() lpns.Hooks {
	return lpns.Hooks{
		OnConnect: func(lpns.Identity) { m.connections.Inc(); m.connects.Inc() },
		OnDisconnect: func(_ lpns.Identity, code int, _ string) {
			m.connections.Dec()
			m.disconnects.WithLabelValues(strconv.Itoa(code)).Inc()
		},
		OnAuthFailure:      func(reason string) { m.authFailures.WithLabelValues(reason).Inc() },
		OnKeepaliveTimeout: func(lpns.Identity) { m.keepaliveMiss.Inc() },
		OnSend: func(o lpns.Outcome, d time.Duration, routed bool) {
			r := strconv.FormatBool(routed)
			m.sends.WithLabelValues(string(o), r).Inc()
			m.ackLatency.WithLabelValues(r).Observe(d.Seconds())
		},
		OnLateAck: func(string, string) { m.lateAcks.Inc() },
	}
}
