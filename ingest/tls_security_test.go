package ingest_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestMQTTMutualTLSRefused runs mosquitto with require_certificate and
// checks that the source never connects when its side of mutual TLS is
// wrong: no client certificate, a client certificate another CA signed, or
// the right client certificate but the wrong CA for the broker.
func TestMQTTMutualTLSRefused(t *testing.T) {
	p, other := ingesttest.NewPKI(t), ingesttest.NewPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.CA, "certfile "+p.ServerCert, "keyfile "+p.ServerKey,
		"require_certificate true")
	url = strings.Replace(url, "tcp://", "mqtts://", 1)
	tests := []struct {
		name string
		tls  ingest.TLSConfig
	}{
		{"no client certificate", ingest.TLSConfig{CAFile: p.CA}},
		{"client certificate of another CA", ingest.TLSConfig{CAFile: p.CA, CertFile: other.ClientCert, KeyFile: other.ClientKey}},
		{"wrong CA for the broker", ingest.TLSConfig{CAFile: other.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sourceConfig(t, url)
			cfg.TLS = tc.tls
			expectNoConnect(t, cfg)
		})
	}
}

// expectNoConnect starts a source with cfg and waits for its second failed
// connection attempt (a TLS handshake that mosquitto rejects after sending
// its certificate can look like success for a moment), then checks that it
// never came up.
func expectNoConnect(t *testing.T, cfg ingest.MQTTConfig) {
	t.Helper()
	failed := make(chan struct{}, 4)
	logger := slog.New(&signalHandler{Handler: ingesttest.Logger(t).Handler(), msg: "cannot connect to broker; retrying", c: failed})
	rec := &recorder{}
	src, err := ingest.NewMQTT(cfg, rec, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSource(t, src)
	for i := range 2 {
		select {
		case <-failed:
		case <-time.After(waitTimeout):
			t.Fatalf("no failed connection attempt %d (ups %d)", i+1, rec.ups())
		}
	}
	stop()
	if rec.ups() != 0 || src.Stats().Connects != 0 {
		t.Fatalf("connected %d time(s)", rec.ups())
	}
}

// TestInsecureSkipVerifyNeedsConsent checks the rule of README "TLS":
// insecure_skip_verify alone is a config error; with allow_insecure it is
// accepted.
func TestInsecureSkipVerifyNeedsConsent(t *testing.T) {
	tests := []struct {
		name    string
		tls     ingest.TLSConfig
		wantErr string
	}{
		{"verified", ingest.TLSConfig{CAFile: "/ca.pem"}, ""},
		{"insecure alone", ingest.TLSConfig{InsecureSkipVerify: true}, "tls.insecure_skip_verify: refused without allow_insecure: true"},
		{"insecure with consent", ingest.TLSConfig{InsecureSkipVerify: true, AllowInsecure: true}, ""},
		{"consent alone", ingest.TLSConfig{AllowInsecure: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sourceConfig(t, "mqtts://127.0.0.1:8883")
			cfg.TLS = tc.tls
			err := cfg.Validate()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
			if _, err := ingest.NewMQTT(cfg, &recorder{}, nil, nil); tc.wantErr != "" && err == nil {
				t.Fatal("NewMQTT accepted what Validate refuses")
			}
		})
	}
}

// insecureWarnings passes records on to next and counts the warnings that
// mention insecure_skip_verify; its copies (WithAttrs, WithGroup) count
// into the same counter.
type insecureWarnings struct {
	next slog.Handler
	n    *atomic.Int64
}

func (h insecureWarnings) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (h insecureWarnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, "insecure_skip_verify") {
		h.n.Add(1)
	}
	return h.next.Handle(ctx, r)
}

func (h insecureWarnings) WithAttrs(as []slog.Attr) slog.Handler {
	return insecureWarnings{h.next.WithAttrs(as), h.n}
}

func (h insecureWarnings) WithGroup(name string) slog.Handler {
	return insecureWarnings{h.next.WithGroup(name), h.n}
}

// TestInsecureSkipVerifyWarnsAtEveryStart connects with
// insecure_skip_verify (and consent) to a broker whose CA the source does
// not know: it connects, and each start — every NewMQTT, as on a reload —
// logs one warning.
func TestInsecureSkipVerifyWarnsAtEveryStart(t *testing.T) {
	p := ingesttest.NewPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.CA, "certfile "+p.ServerCert, "keyfile "+p.ServerKey)
	cfg := sourceConfig(t, strings.Replace(url, "tcp://", "ssl://", 1))
	cfg.TLS = ingest.TLSConfig{InsecureSkipVerify: true, AllowInsecure: true}
	h := insecureWarnings{next: ingesttest.Logger(t).Handler(), n: new(atomic.Int64)}
	for start := 1; start <= 2; start++ {
		rec := &recorder{ack: true}
		src, err := ingest.NewMQTT(cfg, rec, nil, slog.New(h))
		if err != nil {
			t.Fatal(err)
		}
		stop := runSource(t, src)
		rec.waitUp(t, 1)
		stop()
		if got := h.n.Load(); got != int64(start) {
			t.Fatalf("after start %d: %d insecure warnings, want %d", start, got, start)
		}
	}
}
