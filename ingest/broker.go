package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Limits of the embedded broker, raised from mochi's defaults for a gateway
// whose agent may be slow (fsync on an SD card) or briefly away.
const (
	// brokerMaxInflight is how many QoS > 0 messages the broker keeps per
	// client, sent or waiting while the client is away; beyond it new
	// messages are dropped ("client store quota reached").
	brokerMaxInflight = 1 << 15
	// brokerReceiveMaximum is how many unacknowledged QoS > 0 messages a
	// publishing client may have in flight towards the broker.
	brokerReceiveMaximum = 4096
	// brokerWritesPending is how many packets may wait for a slow client's
	// socket before the broker drops further messages to it.
	brokerWritesPending = 1 << 14
	// brokerSessionExpiry is how long, in seconds, the broker keeps the
	// session of a disconnected client.
	brokerSessionExpiry = 24 * 60 * 60
)

// Broker is an embedded MQTT broker (mochi-mqtt) for sites without one, the
// demo and the tests. It allows every client. Messages are kept in memory
// only: what it holds for a disconnected client is lost when the process
// exits.
type Broker struct {
	cfg    BrokerConfig
	logger *slog.Logger
	srv    *mqtt.Server
	tcp    *listeners.TCP

	mu      sync.Mutex
	started bool
	closed  bool
}

// BrokerStats are counters of the embedded broker.
type BrokerStats struct {
	ClientsConnected int64
	MessagesReceived int64
	MessagesSent     int64
	// MessagesDropped counts messages dropped because a subscriber was too
	// slow; InflightDropped those dropped because a client's store was full.
	MessagesDropped int64
	InflightDropped int64
	Inflight        int64
}

// NewBroker builds a broker listening on cfg.Listen once started; the
// Enabled flag is the caller's business. mochi's own log lines at warn and
// above go to logger.
func NewBroker(cfg BrokerConfig, logger *slog.Logger) (*Broker, error) {
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen: must be host:port, got %q", cfg.Listen)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "embedded_broker")
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = brokerMaxInflight
	caps.ReceiveMaximum = brokerReceiveMaximum
	caps.MaximumClientWritesPending = brokerWritesPending
	// A persistent session of a client gone for a day (a sensor, or a
	// client id no longer configured) is dropped with what it holds.
	caps.MaximumSessionExpiryInterval = brokerSessionExpiry
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(mochiLog{h: logger.Handler()}),
		// $SYS topics are published once a minute rather than every second.
		SysTopicResendInterval: 60,
	})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddHook(&dropHook{logger: logger}, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "rivulet", Address: cfg.Listen})
	return &Broker{cfg: cfg, logger: logger, srv: srv, tcp: tcp}, nil
}

// Start listens on the configured TCP address ("127.0.0.1:0" picks a free
// port) and serves in the background.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("embedded broker: closed")
	}
	if b.started {
		return errors.New("embedded broker: already started")
	}
	if err := b.srv.AddListener(b.tcp); err != nil {
		return fmt.Errorf("embedded broker: listen %s: %w", b.cfg.Listen, err)
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	b.started = true
	return nil
}

// Addr returns the address the broker listens on, host:port; before Start
// it is the configured one.
func (b *Broker) Addr() string { return b.tcp.Address() }

// Stats returns the broker's counters.
func (b *Broker) Stats() BrokerStats {
	i := b.srv.Info.Clone()
	return BrokerStats{ClientsConnected: i.ClientsConnected, MessagesReceived: i.MessagesReceived,
		MessagesSent: i.MessagesSent, MessagesDropped: i.MessagesDropped,
		InflightDropped: i.InflightDropped, Inflight: i.Inflight}
}

// Close disconnects every client and stops listening. It is safe to call
// twice.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.srv.Close()
}

// allowAll lets every client connect, publish and subscribe, as mochi's
// auth.AllowHook does; that package is not used because it pulls in a YAML
// module this one does not depend on.
type allowAll struct {
	mqtt.HookBase
}

func (h *allowAll) ID() string { return "rivulet-allow-all" }

func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// dropHook logs messages the broker drops for a slow subscriber, at most
// once per 10 s; mochi counts them but logs them only at debug level.
type dropHook struct {
	mqtt.HookBase
	logger  *slog.Logger
	dropped atomic.Int64
	last    atomic.Int64 // unix nanoseconds of the last log line
}

func (h *dropHook) ID() string { return "rivulet-drop-log" }

func (h *dropHook) Provides(b byte) bool { return b == mqtt.OnPublishDropped }

func (h *dropHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	n := h.dropped.Add(1)
	now := time.Now().UnixNano()
	last := h.last.Load()
	if now-last < int64(quarantineLogEvery) || !h.last.CompareAndSwap(last, now) {
		return
	}
	h.logger.Warn("embedded broker dropped a message for a slow client", "client", cl.ID,
		"topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "dropped_total", n)
}

// mochiLog passes mochi's records at warn and above on to our handler. The
// listener logs every client connection that ends with an error under an
// empty message; those that merely closed are dropped, the others get a
// message.
type mochiLog struct {
	h slog.Handler
}

func (m mochiLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && m.h.Enabled(ctx, l)
}

func (m mochiLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "" {
		return m.h.Handle(ctx, r)
	}
	benign := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			benign = errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
		}
		return true
	})
	if benign {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, "client connection ended with an error", r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return m.h.Handle(ctx, out)
}

func (m mochiLog) WithAttrs(as []slog.Attr) slog.Handler { return mochiLog{h: m.h.WithAttrs(as)} }

func (m mochiLog) WithGroup(name string) slog.Handler { return mochiLog{h: m.h.WithGroup(name)} }
