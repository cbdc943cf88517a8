package ingest_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestMQTTMutualTLS connects to mosquitto over TLS with a client
// certificate, verifying the broker against a private CA.
func TestMQTTMutualTLS(t *testing.T) {
	p := ingesttest.NewPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.CA, "certfile "+p.ServerCert, "keyfile "+p.ServerKey,
		"require_certificate true")
	cfg := sourceConfig(t, strings.Replace(url, "tcp://", "mqtts://", 1))
	cfg.TLS = ingest.TLSConfig{CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}
	rec := &recorder{ack: true}
	stop := runSource(t, newSource(t, cfg, rec, nil))
	rec.waitUp(t, 1)
	stop()
}

// TestMQTTTLSVerifiesBroker refuses a broker whose certificate another CA
// signed.
func TestMQTTTLSVerifiesBroker(t *testing.T) {
	p, other := ingesttest.NewPKI(t), ingesttest.NewPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.CA, "certfile "+p.ServerCert, "keyfile "+p.ServerKey)
	cfg := sourceConfig(t, strings.Replace(url, "tcp://", "ssl://", 1))
	cfg.TLS = ingest.TLSConfig{CAFile: other.CA}
	failed := make(chan struct{}, 1)
	logger := slog.New(&signalHandler{Handler: ingesttest.Logger(t).Handler(), msg: "cannot connect to broker; retrying", c: failed})
	rec := &recorder{}
	src, err := ingest.NewMQTT(cfg, rec, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSource(t, src)
	select {
	case <-failed:
	case <-time.After(waitTimeout):
		t.Fatal("connected to a broker signed by an unknown CA")
	}
	stop()
	if rec.ups() != 0 {
		t.Fatal("connected")
	}
}
