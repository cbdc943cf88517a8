package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// MQTT is one MQTT source: a connection to a broker, its subscriptions, and
// the decoding of what arrives. Run connects and passes every message to the
// Handler; nothing is acked but through Message.Ack.
type MQTT struct {
	cfg        MQTTConfig
	h          Handler
	q          *Quarantine
	logger     *slog.Logger
	router     *Router
	filters    map[string]byte
	persistent bool
	secrets    secrets
	ackGrace   time.Duration

	running atomic.Bool
	cur     atomic.Pointer[session]
	stats   counters
}

// counters are the live counters behind MQTTStats.
type counters struct {
	received, points, bytes, decodeErrors, unrouted, dropped atomic.Uint64
	connects, losses, subscribeErrors                        atomic.Uint64
}

// MQTTStats is a snapshot of a source's counters.
type MQTTStats struct {
	Received uint64 // messages received
	Points   uint64 // points decoded
	Bytes    uint64 // payload bytes received
	// DecodeErrors and Unrouted count messages quarantined because the
	// payload did not decode or no rule matched their topic.
	DecodeErrors uint64
	Unrouted     uint64
	// Dropped counts messages received while stopping and not passed on:
	// QoS 0 ones are lost, QoS > 0 ones stay with the broker.
	Dropped          uint64
	Connects         uint64
	Reconnects       uint64 // connects after the first
	ConnectionLosses uint64
	SubscribeErrors  uint64
	// Unacked is the number of QoS > 0 messages passed to the handler and
	// not yet acked, in the current run.
	Unacked   int64
	Connected bool
}

// NewMQTT validates cfg, compiles its topic rules, reads its password file
// and builds its TLS configuration. q may be nil: rejected payloads are then
// only counted and logged.
func NewMQTT(cfg MQTTConfig, h Handler, q *Quarantine, logger *slog.Logger) (*MQTT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("mqtt source: nil handler")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("source", cfg.Name)
	rt, err := NewRouter(cfg.Topics)
	if err != nil {
		return nil, err
	}
	sec, err := loadSecrets(cfg, logger)
	if err != nil {
		return nil, err
	}
	s := &MQTT{cfg: cfg, h: h, q: q, logger: logger, router: rt, filters: map[string]byte{},
		secrets: sec, ackGrace: defaultAckGrace}
	for _, r := range rt.Rules() {
		qos := r.QoS(cfg.QoS)
		s.filters[r.Filter()] = max(s.filters[r.Filter()], qos)
		s.persistent = s.persistent || qos > 0
	}
	return s, nil
}

// Name returns the source's name.
func (s *MQTT) Name() string { return s.cfg.Name }

// Run connects, retrying with a capped backoff until ctx is done, keeps the
// subscriptions (again after every reconnect) and passes messages to the
// handler until ctx is done. It then stops passing messages on, gives the
// handler up to 2 s to ack what it holds, disconnects cleanly and returns
// nil. A Handle call still blocked then may return after Run. Run may be
// called again after it returned, not concurrently.
func (s *MQTT) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("mqtt source %s: already running", s.cfg.Name)
	}
	defer s.running.Store(false)
	ss := newSession(s)
	s.cur.Store(ss)
	client := paho.NewClient(s.clientOptions(ss))
	if s.connect(ctx, client) {
		<-ctx.Done()
	}
	ss.stop(client)
	return nil
}

// connect makes the first connection; paho reconnects by itself after
// that. It reports false if ctx was done first.
func (s *MQTT) connect(ctx context.Context, c paho.Client) bool {
	wait := min(time.Second, orDefault(s.cfg.MaxReconnect, defaultMaxReconnect))
	for attempt := 1; ; attempt++ {
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return false
		}
		err := tok.Error()
		if err == nil {
			return true
		}
		s.logger.Warn("cannot connect to broker; retrying", "broker", s.cfg.Broker, "attempt", attempt,
			"retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		wait = min(2*wait, orDefault(s.cfg.MaxReconnect, defaultMaxReconnect))
	}
}

// message builds the Message for a paho message, decoding the payload or
// quarantining it.
func (s *MQTT) message(ss *session, pm paho.Message) *Message {
	topic, payload := pm.Topic(), pm.Payload()
	m := &Message{Source: s.cfg.Name, Topic: topic, QoS: pm.Qos(), Dup: pm.Duplicate(),
		Retained: pm.Retained(), MessageID: pm.MessageID(), Size: len(payload)}
	if m.QoS > 0 {
		m.Fingerprint = Fingerprint(topic, payload, m.MessageID)
		if m.Dup && len(payload) > fingerprintBytewise {
			m.LegacyFingerprint = LegacyFingerprint(topic, payload, m.MessageID)
		}
		m.from, m.pm = ss, pm
	}
	s.stats.received.Add(1)
	s.stats.bytes.Add(uint64(len(payload)))
	var err error
	if r := s.router.Route(topic); r == nil {
		err = ErrNoRule
		s.stats.unrouted.Add(1)
	} else {
		bp := getPoints()
		if m.Points, m.N, err = r.Decode(topic, payload, *bp); err != nil {
			s.stats.decodeErrors.Add(1)
			putPoints(bp)
		} else {
			*bp, m.buf = m.Points, bp
		}
	}
	if err != nil {
		// Passed on all the same, with no points, so that its ack goes out
		// in order: a bad payload is never redelivered forever.
		m.Points, m.N = nil, 0
		s.q.Add(s.cfg.Name, topic, payload, err)
		if s.q == nil {
			s.logger.Debug("payload rejected", "topic", topic, "err", err)
		}
		return m
	}
	s.stats.points.Add(uint64(m.N))
	return m
}

// Stats returns a snapshot of the source's counters.
func (s *MQTT) Stats() MQTTStats {
	c := &s.stats
	st := MQTTStats{Received: c.received.Load(), Points: c.points.Load(), Bytes: c.bytes.Load(),
		DecodeErrors: c.decodeErrors.Load(), Unrouted: c.unrouted.Load(), Dropped: c.dropped.Load(),
		Connects: c.connects.Load(), ConnectionLosses: c.losses.Load(), SubscribeErrors: c.subscribeErrors.Load()}
	if st.Connects > 0 {
		st.Reconnects = st.Connects - 1
	}
	if ss := s.cur.Load(); ss != nil {
		st.Unacked = ss.unacked.Load()
		st.Connected = ss.connected.Load()
	}
	return st
}
