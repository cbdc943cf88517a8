package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Defaults for an MQTTConfig built without DefaultMQTT.
const (
	defaultKeepAlive    = 15 * time.Second
	defaultMaxReconnect = 30 * time.Second
	connectTimeout      = 10 * time.Second
	subscribeTimeout    = 30 * time.Second
	// disconnectQuiesce is how long Disconnect waits for the DISCONNECT
	// packet to go out, in milliseconds (paho's unit).
	disconnectQuiesce = 250
	// defaultAckGrace is how long a stopping source waits for the handler to
	// ack what it was handed before disconnecting: acks sent after the
	// disconnect are lost, and the broker would redeliver those messages.
	defaultAckGrace = 2 * time.Second
	// flushFilter is unsubscribed before a disconnect (see session.flush);
	// flushTimeout bounds the wait for the broker's reply.
	flushFilter  = "rivulet/flush"
	flushTimeout = time.Second
)

// tlsSchemes are the broker URL schemes paho connects to over TLS.
var tlsSchemes = map[string]bool{"ssl": true, "tls": true, "mqtts": true, "wss": true}

// secrets holds what NewMQTT reads from files.
type secrets struct {
	password string
	tls      *tls.Config
}

// loadSecrets reads the password file and builds the TLS configuration.
func loadSecrets(cfg MQTTConfig, logger *slog.Logger) (secrets, error) {
	var s secrets
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return s, fmt.Errorf("password_file: %w", err)
		}
		s.password = strings.TrimRight(string(b), "\r\n")
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil {
		return s, fmt.Errorf("broker: %w", err)
	}
	if !tlsSchemes[u.Scheme] {
		return s, nil
	}
	s.tls, err = ClientTLS(cfg.TLS, "broker", logger)
	return s, err
}

// ClientTLS builds a client TLS configuration: the CA bundle to verify the
// peer (the broker, an upstream) with, the system pool when unset; a client
// certificate for mutual TLS; the expected server name. It warns on every
// call when verification is off. The sinks use it too.
func ClientTLS(c TLSConfig, peer string, logger *slog.Logger) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %s", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if c.InsecureSkipVerify {
		logger.Warn("tls.insecure_skip_verify is set: the " + peer + "'s certificate is not verified")
	}
	return t, nil
}

// clientOptions builds the paho options of one run of the source.
func (s *MQTT) clientOptions(ss *session) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.secrets.password).
		// A persistent session keeps QoS > 0 messages while we are away
		// and redelivers what we did not ack.
		SetCleanSession(!s.persistent).
		SetResumeSubs(false).
		// Acks go out only through Message.Ack, after the batch is durable.
		SetAutoAckDisabled(true).
		// Messages are passed on sequentially, in arrival order.
		SetOrderMatters(true).
		SetKeepAlive(orDefault(s.cfg.KeepAlive, defaultKeepAlive)).
		// A link that went silent (half open: no RST, every byte lost) is
		// declared down half a keep-alive after the unanswered ping, not
		// paho's fixed 10 s: while it seems up the batcher writes
		// heartbeats, and idle time would advance the watermark past what
		// the broker is holding for us.
		SetPingTimeout(pingTimeout(orDefault(s.cfg.KeepAlive, defaultKeepAlive))).
		SetConnectTimeout(connectTimeout).
		// Run retries the first connect itself, with a backoff it can
		// interrupt; paho's connect retry sleeps a fixed interval that
		// cannot be cut short.
		SetConnectRetry(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(orDefault(s.cfg.MaxReconnect, defaultMaxReconnect)).
		// With a persistent session the broker sends queued messages right
		// after CONNACK, before any subscribe callback could be registered:
		// every message therefore goes through the default handler.
		SetDefaultPublishHandler(ss.onMessage).
		// Inbound messages are not kept in paho's memory: see sessionStore.
		SetStore(newSessionStore()).
		SetOnConnectHandler(ss.onConnect).
		SetConnectionLostHandler(ss.onLost)
	if s.secrets.tls != nil {
		o.SetTLSConfig(s.secrets.tls)
	}
	if dial := bufferedDialer(s.cfg.Broker); dial != nil {
		o.SetCustomOpenConnectionFn(dial)
	}
	return o
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// pingTimeout is how long an unanswered PINGREQ may wait: half the
// keep-alive, between 1 s and 10 s.
func pingTimeout(keepAlive time.Duration) time.Duration {
	return min(max(keepAlive/2, time.Second), 10*time.Second)
}
