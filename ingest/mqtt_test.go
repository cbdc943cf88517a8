package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

const waitTimeout = 15 * time.Second

// recorder is a Handler that keeps what it gets and, if ack is set, acks
// each message as it arrives (in arrival order).
type recorder struct {
	ack bool

	mu    sync.Mutex
	msgs  []*ingest.Message
	conns []bool
}

func (r *recorder) Handle(m *ingest.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	if r.ack {
		m.Ack()
	}
}

func (r *recorder) Connected(source string, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, up)
}

func (r *recorder) messages() []*ingest.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) connections() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.conns)
}

// ups counts the Connected(true) calls so far.
func (r *recorder) ups() int {
	n := 0
	for _, up := range r.connections() {
		if up {
			n++
		}
	}
	return n
}

func (r *recorder) waitMessages(t *testing.T, n int) []*ingest.Message {
	t.Helper()
	ingesttest.WaitFor(t, waitTimeout, fmt.Sprintf("%d messages", n), func() bool { return len(r.messages()) >= n })
	return r.messages()
}

func (r *recorder) waitUp(t *testing.T, n int) {
	t.Helper()
	ingesttest.WaitFor(t, waitTimeout, fmt.Sprintf("%d connects", n), func() bool { return r.ups() >= n })
}

// sourceConfig is a QoS 1 source with a value, an influx and a json topic.
func sourceConfig(t *testing.T, broker string) ingest.MQTTConfig {
	c := ingest.DefaultMQTT()
	c.Name, c.Broker = "sensors", broker
	c.ClientID = "rivulet-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	c.MaxReconnect = time.Second
	v := ingest.DefaultTopic()
	v.Filter, v.Measurement, v.Tags = "v/+/temp", "temp", map[string]string{"room": "{1}"}
	lp := ingest.DefaultTopic()
	lp.Filter, lp.Format, lp.Precision = "lp/#", "influx", "s"
	js := ingest.DefaultTopic()
	js.Filter, js.Format, js.Measurement = "js/+", "json", "env"
	js.JSON = ingest.JSONConfig{TimeField: "ts", TimeFormat: "unix_ms", TagFields: []string{"id"}}
	c.Topics = []ingest.TopicConfig{v, lp, js}
	return c
}

// runSource starts s.Run and returns a function that stops it and waits;
// t.Cleanup calls it too.
func runSource(t *testing.T, s *ingest.MQTT) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newSource(t *testing.T, cfg ingest.MQTTConfig, h ingest.Handler, q *ingest.Quarantine) *ingest.MQTT {
	t.Helper()
	s, err := ingest.NewMQTT(cfg, h, q, ingesttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openQuarantine(t *testing.T) (*ingest.Quarantine, string) {
	dir := t.TempDir()
	q, err := ingest.OpenQuarantine(dir, 1<<20, ingesttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, filepath.Join(dir, ingest.QuarantineFile)
}

// brokers runs a test against the embedded broker and against mosquitto.
func brokers(t *testing.T, test func(t *testing.T, url string, inOrder bool)) {
	t.Run("embedded", func(t *testing.T) {
		// mochi resends unacked messages sorted by creation second only,
		// so their order within a second is not kept.
		test(t, ingesttest.Embedded(t), false)
	})
	t.Run("mosquitto", func(t *testing.T) {
		test(t, ingesttest.Mosquitto(t, "log_type all"), true) // verbose: printed only on failure
	})
}

func TestMQTTDecodesAcksAndQuarantines(t *testing.T) {
	brokers(t, func(t *testing.T, url string, _ bool) {
		cfg := sourceConfig(t, url)
		q, qfile := openQuarantine(t)
		rec := &recorder{ack: true}
		src := newSource(t, cfg, rec, q)
		stop := runSource(t, src)
		rec.waitUp(t, 1)

		pub := ingesttest.Client(t, url, "")
		sends := []struct{ topic, payload string }{
			{"v/kitchen/temp", "21.5"},
			{"lp/host1", "cpu,z=1,a=2 usage=0.5 1700000000\ncpu usage=0.7"},
			{"js/dev", `{"ts":1700000000123,"id":"d1","t":20.5,"ok":true}`},
			{"js/dev", `{"ts":"yesterday","t":1}`},
			{"v/kitchen/temp", "21.5"},
		}
		for _, s := range sends {
			if tok := pub.Publish(s.topic, 1, false, s.payload); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
		}
		msgs := rec.waitMessages(t, len(sends))
		wantPoints := []string{
			"temp,room=kitchen value=21.5\n",
			"cpu,a=2,z=1 usage=0.5 1700000000000000000\ncpu usage=0.7\n",
			"env,id=d1 ok=true,t=20.5 1700000000123000000\n",
			"",
			"temp,room=kitchen value=21.5\n",
		}
		for i, m := range msgs {
			s := sends[i]
			if m.Topic != s.topic || string(m.Points) != wantPoints[i] || m.Source != "sensors" || m.QoS != 1 ||
				m.Dup || m.Size != len(s.payload) || m.N != strings.Count(wantPoints[i], "\n") {
				t.Errorf("message %d: %+v points %q", i, m, m.Points)
			}
			if want := ingest.Fingerprint(s.topic, []byte(s.payload), m.MessageID); m.Fingerprint != want || want == 0 {
				t.Errorf("message %d: fingerprint %x, want %x", i, m.Fingerprint, want)
			}
		}
		if msgs[0].Fingerprint == msgs[4].Fingerprint {
			t.Error("two equal readings share a fingerprint")
		}
		if msgs[3].Points != nil {
			t.Errorf("quarantined message has points %q", msgs[3].Points)
		}
		// The recorder acks right after recording: wait for the last ack.
		ingesttest.WaitFor(t, waitTimeout, "all acked", func() bool { return src.Stats().Unacked == 0 })
		st := src.Stats()
		if st.Received != 5 || st.DecodeErrors != 1 || st.Points != 5 || st.Connects != 1 || !st.Connected {
			t.Errorf("stats %+v", st)
		}
		stop()
		if got := rec.connections(); !slices.Equal(got, []bool{true, false}) {
			t.Errorf("Connected calls %v, want [true false]", got)
		}
		data, err := os.ReadFile(qfile)
		if err != nil || strings.Count(string(data), "\n") != 1 ||
			!strings.Contains(string(data), `"topic":"js/dev"`) ||
			!strings.Contains(string(data), `"payload":"{\"ts\":\"yesterday\",\"t\":1}"`) ||
			!strings.Contains(string(data), `member \"ts\": time_format unix_ms wants a number, got string`) {
			t.Errorf("quarantine file (%v):\n%s", err, data)
		}

		// Everything was acked, the malformed message too: a new session
		// with the same client id gets nothing back before a fresh marker.
		rec2 := &recorder{ack: true}
		stop2 := runSource(t, newSource(t, cfg, rec2, q))
		rec2.waitUp(t, 1)
		ingesttest.Publish(t, url, "v/marker/temp", 1, "1")
		if got := rec2.waitMessages(t, 1); got[0].Topic != "v/marker/temp" {
			t.Errorf("redelivered after ack: %s %q dup=%v", got[0].Topic, got[0].Points, got[0].Dup)
		}
		stop2()
	})
}

func TestMQTTRedeliversUnacked(t *testing.T) {
	brokers(t, func(t *testing.T, url string, inOrder bool) {
		cfg := sourceConfig(t, url)
		q, _ := openQuarantine(t)
		holder := &recorder{} // never acks
		src := newSource(t, cfg, holder, q)
		ingest.SetAckGrace(src, 50*time.Millisecond)
		stop := runSource(t, src)
		holder.waitUp(t, 1)
		long := "21.5" + strings.Repeat("0", 70) // over 64 bytes: a legacy fingerprint on redelivery
		payloads := []string{"21.5", "21.5", "22", "not a number", long}
		ingesttest.Publish(t, url, "v/hall/temp", 1, payloads...)
		first := holder.waitMessages(t, len(payloads))
		if st := src.Stats(); st.Unacked != int64(len(payloads)) {
			t.Errorf("unacked %d", st.Unacked)
		}
		stop()

		rec := &recorder{ack: true}
		stop2 := runSource(t, newSource(t, cfg, rec, q))
		again := rec.waitMessages(t, len(payloads))
		byID := map[uint16]*ingest.Message{}
		for _, m := range first {
			if m.Dup {
				t.Errorf("first delivery of %d has Dup set", m.MessageID)
			}
			byID[m.MessageID] = m
		}
		for i, m := range again {
			orig := byID[m.MessageID]
			if orig == nil || !m.Dup || m.Fingerprint != orig.Fingerprint || string(m.Points) != string(orig.Points) {
				t.Errorf("redelivery %d: %+v, original %+v", i, m, orig)
			}
			want := uint64(0)
			if m.Size > 64 {
				want = ingest.LegacyFingerprint("v/hall/temp", []byte(long), m.MessageID)
			}
			if m.LegacyFingerprint != want || orig != nil && orig.LegacyFingerprint != 0 {
				t.Errorf("redelivery %d (%d bytes): legacy fingerprint %x, want %x; original's %x",
					i, m.Size, m.LegacyFingerprint, want, orig.LegacyFingerprint)
			}
			if inOrder && m.MessageID != first[i].MessageID {
				t.Errorf("redelivery %d is message %d, want %d", i, m.MessageID, first[i].MessageID)
			}
		}
		if first[0].Fingerprint == first[1].Fingerprint {
			t.Error("equal readings share a fingerprint")
		}
		stop2()
	})
}

// TestMQTTQoS2 runs the QoS 2 flow through the source's paho store, which
// keeps no inbound packets (see sessionStore): what is not acked comes
// again after a restart, and what is acked completes, so that the next
// start of the session gets only new messages.
func TestMQTTQoS2(t *testing.T) {
	brokers(t, func(t *testing.T, url string, _ bool) {
		cfg := sourceConfig(t, url)
		cfg.QoS = 2
		holder := &recorder{} // never acks
		src := newSource(t, cfg, holder, nil)
		ingest.SetAckGrace(src, 50*time.Millisecond)
		stop := runSource(t, src)
		holder.waitUp(t, 1)
		ingesttest.Publish(t, url, "v/hall/temp", 2, "1", "2", "3")
		points := func(ms []*ingest.Message) []string {
			var out []string
			for _, m := range ms {
				if m.QoS != 2 {
					t.Errorf("message %d: QoS %d, want 2", m.MessageID, m.QoS)
				}
				out = append(out, string(m.Points))
			}
			slices.Sort(out)
			return out
		}
		first := points(holder.waitMessages(t, 3))
		stop()

		rec := &recorder{ack: true}
		stop2 := runSource(t, newSource(t, cfg, rec, nil))
		again := rec.waitMessages(t, 3)
		if got := points(again); !slices.Equal(got, first) {
			t.Errorf("redelivered %q, want %q", got, first)
		}
		for _, m := range again {
			if !m.Dup {
				t.Errorf("redelivery of %d has no Dup", m.MessageID)
			}
		}
		stop2()

		// Redeliveries come right after CONNACK, before anything published
		// once the source is up: the new reading must be the first message.
		rec3 := &recorder{ack: true}
		stop3 := runSource(t, newSource(t, cfg, rec3, nil))
		rec3.waitUp(t, 1)
		ingesttest.Publish(t, url, "v/hall/temp", 2, "4")
		if got := rec3.waitMessages(t, 1); len(got) != 1 || got[0].Dup || !strings.Contains(string(got[0].Points), "value=4") {
			t.Errorf("after the acks the session delivered %q, want only the new reading", points(got))
		}
		stop3()
	})
}

func TestMQTTReconnectsAndResubscribes(t *testing.T) {
	addr := ingesttest.FreeAddr(t)
	b1 := startBroker(t, addr)
	url := "tcp://" + addr
	rec := &recorder{ack: true}
	src := newSource(t, sourceConfig(t, url), rec, nil)
	stop := runSource(t, src)
	rec.waitUp(t, 1)

	b1.Close()
	ingesttest.WaitFor(t, waitTimeout, "connection loss", func() bool {
		c := rec.connections()
		return len(c) == 2 && !c[1]
	})
	startBroker(t, addr) // a fresh broker: no session, so only a resubscribe brings messages
	rec.waitUp(t, 2)
	ingesttest.Publish(t, url, "v/after/temp", 1, "5")
	if m := rec.waitMessages(t, 1); m[0].Topic != "v/after/temp" {
		t.Fatalf("got %s", m[0].Topic)
	}
	st := src.Stats()
	if st.Reconnects != 1 || st.ConnectionLosses != 1 {
		t.Errorf("stats %+v", st)
	}
	stop()
}

func TestMQTTRetriesFirstConnect(t *testing.T) {
	addr := ingesttest.FreeAddr(t)
	failed := make(chan struct{}, 1)
	logger := slog.New(&signalHandler{Handler: ingesttest.Logger(t).Handler(), msg: "cannot connect to broker; retrying", c: failed})
	rec := &recorder{ack: true}
	src, err := ingest.NewMQTT(sourceConfig(t, "tcp://"+addr), rec, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSource(t, src)
	select { // nothing listens yet: the first attempt fails
	case <-failed:
	case <-time.After(waitTimeout):
		t.Fatal("no failed connect attempt logged")
	}
	startBroker(t, addr)
	rec.waitUp(t, 1) // the retry, after the first backoff, connects
	stop()
}

// signalHandler sends on c when a record with message msg is logged.
type signalHandler struct {
	slog.Handler
	msg string
	c   chan struct{}
}

func (h *signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.c <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &signalHandler{Handler: h.Handler.WithAttrs(as), msg: h.msg, c: h.c}
}

func TestMQTTStopsWhileUnreachable(t *testing.T) {
	rec := &recorder{}
	src := newSource(t, sourceConfig(t, "tcp://"+ingesttest.FreeAddr(t)), rec, nil)
	stop := runSource(t, src)
	stop() // must return promptly although never connected
	if len(rec.connections()) != 0 || src.Stats().Connects != 0 {
		t.Fatalf("connections %v", rec.connections())
	}
}

func TestMQTTCleanSessionForQoS0(t *testing.T) {
	url := ingesttest.Embedded(t)
	cfg := sourceConfig(t, url)
	cfg.QoS, cfg.ClientID = 0, ""
	rec := &recorder{}
	stop := runSource(t, newSource(t, cfg, rec, nil))
	rec.waitUp(t, 1)
	ingesttest.Publish(t, url, "v/a/temp", 0, "1")
	m := rec.waitMessages(t, 1)[0]
	if m.QoS != 0 || m.Fingerprint != 0 || m.MessageID != 0 {
		t.Errorf("%+v", m)
	}
	m.Ack() // a no-op for QoS 0
	stop()
}

func TestNewMQTTErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	tests := []struct {
		name    string
		mod     func(*ingest.MQTTConfig)
		h       ingest.Handler
		wantErr string
	}{
		{"invalid config", func(c *ingest.MQTTConfig) { c.Broker = "nope" }, &recorder{}, "broker: must be a URL"},
		{"nil handler", func(*ingest.MQTTConfig) {}, nil, "nil handler"},
		{"password file", func(c *ingest.MQTTConfig) { c.PasswordFile = filepath.Join(dir, "missing") }, &recorder{}, "password_file:"},
		{"ca file", func(c *ingest.MQTTConfig) { c.Broker, c.TLS.CAFile = "ssl://127.0.0.1:8883", garbage },
			&recorder{}, "tls.ca_file: no PEM certificate"},
		{"key pair", func(c *ingest.MQTTConfig) {
			c.Broker, c.TLS.CertFile, c.TLS.KeyFile = "mqtts://127.0.0.1:8883", garbage, garbage
		}, &recorder{}, "tls.cert_file/key_file:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sourceConfig(t, "tcp://127.0.0.1:1883")
			tc.mod(&cfg)
			_, err := ingest.NewMQTT(cfg, tc.h, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// blockingRecorder blocks in Handle on its first message until release is
// closed, then acks everything.
type blockingRecorder struct {
	recorder
	release chan struct{}
	once    sync.Once
	blocked chan struct{}
}

func (b *blockingRecorder) Handle(m *ingest.Message) {
	b.once.Do(func() {
		close(b.blocked)
		<-b.release
	})
	b.recorder.Handle(m)
}

func TestMQTTBackpressureKeepsOrder(t *testing.T) {
	brokers(t, func(t *testing.T, url string, _ bool) {
		h := &blockingRecorder{recorder: recorder{ack: true}, release: make(chan struct{}), blocked: make(chan struct{})}
		stop := runSource(t, newSource(t, sourceConfig(t, url), h, nil))
		h.waitUp(t, 1)
		const n = 300 // well beyond what paho buffers while Handle blocks
		var payloads []string
		for i := range n {
			payloads = append(payloads, fmt.Sprint(i))
		}
		pub := ingesttest.Client(t, url, "")
		for _, p := range payloads {
			// Not waiting for each: the broker takes them while the
			// handler is blocked.
			pub.Publish("v/order/temp", 1, false, p)
		}
		<-h.blocked
		close(h.release)
		msgs := h.waitMessages(t, n)
		for i, m := range msgs {
			if want := fmt.Sprintf("temp,room=order value=%d\n", i); string(m.Points) != want {
				t.Fatalf("message %d: %q, want %q", i, m.Points, want)
			}
		}
		stop()
	})
}

func TestMQTTStopWithBlockedHandler(t *testing.T) {
	url := ingesttest.Embedded(t)
	h := &blockingRecorder{recorder: recorder{ack: true}, release: make(chan struct{}), blocked: make(chan struct{})}
	src := newSource(t, sourceConfig(t, url), h, nil)
	ingest.SetAckGrace(src, 50*time.Millisecond)
	stop := runSource(t, src)
	h.waitUp(t, 1)
	ingesttest.Publish(t, url, "v/a/temp", 1, "1", "2")
	<-h.blocked
	stop() // returns although Handle is blocked
	close(h.release)
	// The blocked call completes; the second message, waiting for its turn,
	// sees the close and is left to the broker (not acked): never lost
	// silently.
	ingesttest.WaitFor(t, waitTimeout, "blocked Handle to return", func() bool { return len(h.messages()) >= 1 })
}
