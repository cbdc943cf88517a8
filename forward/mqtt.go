package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/rivulet-edge/rivulet/point"
)

// mqttTLSSchemes are the broker URL schemes paho connects to over TLS.
var mqttTLSSchemes = map[string]bool{"ssl": true, "tls": true, "mqtts": true, "wss": true}

// mqttDisconnectQuiesce is how long Close lets the DISCONNECT go out, in
// milliseconds (paho's unit).
const mqttDisconnectQuiesce = 250

// validateMQTT checks the keys of an mqtt sink.
func (c Config) validateMQTT() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	u, err := url.Parse(c.Broker)
	switch {
	case err != nil || u.Host == "":
		add("broker: must be a URL like ssl://broker.example.com:8883, got %q", c.Broker)
	case !validMQTTScheme(u.Scheme):
		add("broker: scheme must be tcp, ssl, tls, mqtt, mqtts, ws or wss, got %q", u.Scheme)
	default:
		errs = append(errs, c.validateTLS(mqttTLSSchemes[u.Scheme], u.Scheme)...)
	}
	if c.ClientID == "" {
		add("client_id: must be set (the persistent session is named by it)")
	}
	if c.KeepAlive <= 0 {
		add("keep_alive: must be positive, got %s", c.KeepAlive)
	}
	if _, err := compileTopic(c.Topic, c.MissingTag, mqttTopicRules); err != nil {
		add("topic: %v", err)
	}
	errs = append(errs, c.validateFormat()...)
	return append(errs, c.validateCredentials()...)
}

func validMQTTScheme(s string) bool {
	switch s {
	case "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss":
		return true
	}
	return false
}

// mqttSink publishes points to an MQTT broker at QoS 1 with a persistent
// session (clean_session false). A batch is delivered when the broker has
// acknowledged (PUBACK) every message of it.
//
// The sink connects on the first Write, not in New, so that an unreachable
// broker delays delivery but not the agent's start. Each connection gets a
// fresh paho client: after a failure the old client, with whatever it had
// in flight, is dropped and the Runner sends the whole batch again. A
// message may thus arrive twice; it carries the point's identity, so the
// repeat is detectable. paho's own reconnect is off because it would keep
// re-sending the unacknowledged messages of every failed attempt, without
// bound, while the broker is away.
type mqttSink struct {
	cfg      Config
	topic    *topicTemplate
	password string
	tls      *tls.Config
	logger   *slog.Logger

	client paho.Client   // nil while disconnected
	lost   chan struct{} // closed when client's connection drops

	dec point.Decoder
	enc point.Encoder
}

func newMQTT(cfg Config, logger *slog.Logger) (*mqttSink, error) {
	if cfg.Format == "" {
		cfg.Format = DefaultFormat(cfg.Type)
	}
	topic, err := compileTopic(cfg.Topic, cfg.MissingTag, mqttTopicRules)
	if err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	s := &mqttSink{cfg: cfg, topic: topic, logger: logger}
	if cfg.PasswordFile != "" {
		if s.password, err = readSecret("password_file", cfg.PasswordFile); err != nil {
			return nil, err
		}
	}
	if u, _ := url.Parse(cfg.Broker); mqttTLSSchemes[u.Scheme] {
		if s.tls, err = tlsConfig(cfg.TLS, logger); err != nil {
			return nil, err
		}
	}
	logger.Debug("mqtt sink ready", "broker", redactBroker(cfg.Broker), "client_id", cfg.ClientID,
		"topic", cfg.Topic, "format", cfg.Format, "batch", cfg.Batch)
	return s, nil
}

// redactBroker drops a password from a broker URL.
func redactBroker(b string) string {
	if u, err := url.Parse(b); err == nil {
		return u.Redacted()
	}
	return "<unparsable broker URL>"
}

// mqttMessage is one message to publish. The payload is the sink's own, not
// the caller's lines, since paho writes it after Publish returns.
type mqttMessage struct {
	topic   string
	payload []byte
	points  int
}

func (s *mqttSink) Write(ctx context.Context, lines []byte) error {
	msgs, err := s.messages(lines)
	if err != nil || len(msgs) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.connect(ctx); err != nil {
		return &RetryableError{Err: err}
	}
	tokens := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		tokens[i] = s.client.Publish(m.topic, 1, false, m.payload)
	}
	for i, tok := range tokens {
		if err := s.await(ctx, tok); err != nil {
			s.drop()
			return &RetryableError{Err: fmt.Errorf("mqtt publish to %s (message %d of %d): %w",
				msgs[i].topic, i+1, len(msgs), err)}
		}
	}
	return nil
}

// await waits for one PUBACK, the end of the connection or of ctx.
func (s *mqttSink) await(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-s.lost:
		return errors.New("connection lost before PUBACK")
	case <-ctx.Done():
		return fmt.Errorf("no PUBACK: %w", context.Cause(ctx))
	}
}

// messages renders a batch: one message per point, or with batch set one
// per topic (line protocol lines, or a JSON array), topics in the order of
// their first point and points in batch order within each.
func (s *mqttSink) messages(lines []byte) ([]mqttMessage, error) {
	var msgs []mqttMessage
	byTopic := map[string]int{}
	var topic []byte
	err := eachPoint(&s.dec, lines, func(p *point.Point) error {
		var err error
		if topic, err = s.topic.render(topic[:0], p); err != nil {
			return &PermanentError{Err: err}
		}
		i, ok := byTopic[string(topic)]
		if !s.cfg.Batch || !ok {
			i = len(msgs)
			msgs = append(msgs, mqttMessage{topic: string(topic)})
			if s.cfg.Batch {
				byTopic[msgs[i].topic] = i
			}
		}
		m := &msgs[i]
		m.payload, err = s.appendPoint(m.payload, m.points, p)
		m.points++
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.cfg.Batch && s.cfg.Format == "json" {
		for i := range msgs {
			msgs[i].payload = append(msgs[i].payload, ']')
		}
	}
	return msgs, nil
}

// appendPoint adds p, the n-th point of a message, to its payload.
func (s *mqttSink) appendPoint(dst []byte, n int, p *point.Point) ([]byte, error) {
	if s.cfg.Format == "line" {
		out, err := s.enc.Append(dst, p)
		if err != nil {
			return dst, &PermanentError{Err: err}
		}
		return out, nil
	}
	if s.cfg.Batch {
		if n == 0 {
			dst = append(dst, '[')
		} else {
			dst = append(dst, ',')
		}
	}
	return appendJSON(dst, p), nil
}

// connect makes sure a client is connected, starting a new one if needed.
func (s *mqttSink) connect(ctx context.Context) error {
	if s.client != nil && s.client.IsConnectionOpen() {
		return nil
	}
	s.drop()
	lost := make(chan struct{})
	var once sync.Once
	o := paho.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.password).
		SetCleanSession(false).
		SetKeepAlive(s.cfg.KeepAlive).
		SetConnectTimeout(s.cfg.Timeout).
		SetWriteTimeout(s.cfg.Timeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.logger.Debug("mqtt sink connection lost", "err", err)
			once.Do(func() { close(lost) })
		})
	if s.tls != nil {
		o.SetTLSConfig(s.tls)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		// paho gives up by itself after the connect timeout; disconnect
		// then, in case it succeeded meanwhile.
		go func() {
			<-tok.Done()
			c.Disconnect(0)
		}()
		return fmt.Errorf("mqtt connect %s: %w", redactBroker(s.cfg.Broker), context.Cause(ctx))
	}
	if err := tok.Error(); err != nil {
		c.Disconnect(0)
		return fmt.Errorf("mqtt connect %s: %w", redactBroker(s.cfg.Broker), err)
	}
	s.client, s.lost = c, lost
	return nil
}

// drop disconnects and forgets the current client, if any.
func (s *mqttSink) drop() {
	if s.client == nil {
		return
	}
	s.client.Disconnect(0)
	s.client, s.lost = nil, nil
}

// Close disconnects from the broker. It is safe to call twice.
func (s *mqttSink) Close() error {
	if s.client != nil {
		s.client.Disconnect(mqttDisconnectQuiesce)
		s.client, s.lost = nil, nil
	}
	return nil
}
