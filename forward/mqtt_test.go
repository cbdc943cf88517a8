package forward

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// mqttConfig is a valid mqtt sink config for broker.
func mqttConfig(broker string) Config {
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.Broker, cfg.ClientID = "cloud", "mqtt", broker, "rivulet-test-"+randomSuffix()
	cfg.Topic = "sites/{site}/alerts/{rule}"
	cfg.Timeout = 5 * time.Second
	return cfg
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestMQTTConfigValidate(t *testing.T) {
	mq := func(set func(*Config)) Config {
		c := mqttConfig("ssl://cloud.example.com:8883")
		set(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; empty for valid
	}{
		{"valid", mq(func(*Config) {}), ""},
		{"mtls", mq(func(c *Config) { c.TLS = TLSConfig{CAFile: "/ca", CertFile: "/c", KeyFile: "/k"} }), ""},
		{"login", mq(func(c *Config) { c.Username, c.PasswordFile = "u", "/pw" }), ""},
		{"line", mq(func(c *Config) { c.Format = "line" }), ""},
		{"no broker", mq(func(c *Config) { c.Broker = "" }), "broker: must be a URL"},
		{"bad scheme", mq(func(c *Config) { c.Broker = "http://b:1883" }), "broker: scheme must be"},
		{"tls on tcp", mq(func(c *Config) { c.Broker, c.TLS.CAFile = "tcp://b:1883", "/ca" }), `tls: set, but scheme "tcp"`},
		{"cert without key", mq(func(c *Config) { c.TLS.CertFile = "/c" }), "tls: cert_file and key_file"},
		{"no client id", mq(func(c *Config) { c.ClientID = "" }), "client_id: must be set"},
		{"no topic", mq(func(c *Config) { c.Topic = "" }), "topic: must be set"},
		{"unknown placeholder", mq(func(c *Config) { c.Topic = "a/{foo:x}" }), "topic: \"a/{foo:x}\": unknown placeholder {foo:x}"},
		{"wildcard", mq(func(c *Config) { c.Topic = "a/#" }), "topic: \"a/#\": '#' is not allowed"},
		{"bad missing_tag", mq(func(c *Config) { c.MissingTag = "a/b" }), "topic: missing_tag \"a/b\""},
		{"bad format", mq(func(c *Config) { c.Format = "xml" }), "format: must be json or line"},
		{"password without username", mq(func(c *Config) { c.PasswordFile = "/pw" }), "password_file: needs username"},
		{"token file", mq(func(c *Config) { c.TokenFile = "/t" }), "token_file: not used by a mqtt sink"},
		{"zero keep_alive", mq(func(c *Config) { c.KeepAlive = 0 }), "keep_alive: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// mqttMsg is one message a subscriber received.
type mqttMsg struct {
	Topic, Payload string
}

// subscriber collects every message of a broker.
type subscriber struct {
	mu   sync.Mutex
	msgs []mqttMsg
	got  chan struct{} // signalled on every message
}

func subscribe(t *testing.T, broker, filter string) *subscriber {
	t.Helper()
	s := &subscriber{got: make(chan struct{}, 1)}
	c := ingesttest.Client(t, broker, "")
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		s.msgs = append(s.msgs, mqttMsg{m.Topic(), string(m.Payload())})
		s.mu.Unlock()
		select {
		case s.got <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(testDeadline) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return s
}

// waitN waits for n messages and returns them.
func (s *subscriber) waitN(t *testing.T, n int) []mqttMsg {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		s.mu.Lock()
		msgs := slices.Clone(s.msgs)
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("%d messages, want %d: %v", len(msgs), n, msgs)
		}
	}
}

// waitPayload waits for a message with payload and returns the messages
// before it.
func (s *subscriber) waitPayload(t *testing.T, payload string) []mqttMsg {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		s.mu.Lock()
		i := slices.IndexFunc(s.msgs, func(m mqttMsg) bool { return m.Payload == payload })
		msgs := slices.Clone(s.msgs)
		s.mu.Unlock()
		if i >= 0 {
			return msgs[:i]
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("no message %q among %d", payload, len(msgs))
		}
	}
}

func newSink(t *testing.T, cfg Config) Sink {
	t.Helper()
	s, err := New(cfg, ingesttest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const alertBatch = `alert,rule=overheat,sensor=t1,site=north level="crit",value=81.5 1700000000000000000
alert,rule=overheat,sensor=t2,site=north level="warn",value=71i 1700000001000000000
alert,rule=stuck,sensor=t1,site=north level="crit",stuck=true 1700000002000000000
alert,sensor=t9,site=north level="ok" 1700000003000000000
`

// TestMQTTJSONPerPoint publishes one JSON message per alert to mosquitto and
// checks topics and payloads, written out by hand.
func TestMQTTJSONPerPoint(t *testing.T) {
	broker := ingesttest.Mosquitto(t)
	sub := subscribe(t, broker, "sites/#")
	cfg := mqttConfig(broker)
	cfg.Batch = false
	s := newSink(t, cfg)
	if err := s.Write(context.Background(), []byte(alertBatch)); err != nil {
		t.Fatal(err)
	}
	want := []mqttMsg{
		{"sites/north/alerts/overheat", `{"measurement":"alert","tags":{"rule":"overheat","sensor":"t1","site":"north"},"fields":{"level":"crit","value":81.5},"time":"2023-11-14T22:13:20Z","ts":1700000000000000000}`},
		{"sites/north/alerts/overheat", `{"measurement":"alert","tags":{"rule":"overheat","sensor":"t2","site":"north"},"fields":{"level":"warn","value":71},"time":"2023-11-14T22:13:21Z","ts":1700000001000000000}`},
		{"sites/north/alerts/stuck", `{"measurement":"alert","tags":{"rule":"stuck","sensor":"t1","site":"north"},"fields":{"level":"crit","stuck":true},"time":"2023-11-14T22:13:22Z","ts":1700000002000000000}`},
		{"sites/north/alerts/_", `{"measurement":"alert","tags":{"sensor":"t9","site":"north"},"fields":{"level":"ok"},"time":"2023-11-14T22:13:23Z","ts":1700000003000000000}`},
	}
	got := sub.waitN(t, len(want))
	if !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	for _, m := range got {
		if !json.Valid([]byte(m.Payload)) {
			t.Errorf("invalid JSON %s", m.Payload)
		}
	}
}

// TestMQTTBatchedPerTopic groups lines by topic, in order of first use.
func TestMQTTBatchedPerTopic(t *testing.T) {
	for _, format := range []string{"line", "json"} {
		t.Run(format, func(t *testing.T) {
			broker := ingesttest.Mosquitto(t)
			sub := subscribe(t, broker, "#")
			cfg := mqttConfig(broker)
			cfg.Format, cfg.Topic = format, "r/{measurement}/{sensor}"
			s := newSink(t, cfg)
			batch := "a,sensor=x v=1 1\nb,sensor=x v=2 2\na,sensor=x v=3 3\na,sensor=y v=4 4\n"
			if err := s.Write(context.Background(), []byte(batch)); err != nil {
				t.Fatal(err)
			}
			want := []mqttMsg{
				{"r/a/x", "a,sensor=x v=1 1\na,sensor=x v=3 3\n"},
				{"r/b/x", "b,sensor=x v=2 2\n"},
				{"r/a/y", "a,sensor=y v=4 4\n"},
			}
			if format == "json" {
				obj := func(m, s string, v, ts int) string {
					return `{"measurement":"` + m + `","tags":{"sensor":"` + s + `"},"fields":{"v":` + itoa(v) +
						`.0},"time":"1970-01-01T00:00:00.00000000` + itoa(ts) + `Z","ts":` + itoa(ts) + `}`
				}
				want = []mqttMsg{
					{"r/a/x", "[" + obj("a", "x", 1, 1) + "," + obj("a", "x", 3, 3) + "]"},
					{"r/b/x", "[" + obj("b", "x", 2, 2) + "]"},
					{"r/a/y", "[" + obj("a", "y", 4, 4) + "]"},
				}
			}
			got := sub.waitN(t, 3)
			// Messages to different topics may interleave: compare per topic.
			slices.SortStableFunc(got, func(a, b mqttMsg) int { return strings.Compare(a.Topic, b.Topic) })
			slices.SortStableFunc(want, func(a, b mqttMsg) int { return strings.Compare(a.Topic, b.Topic) })
			if !slices.Equal(got, want) {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestMQTTBrokerDownThenBack: a Write while no broker listens is
// retryable; once a broker is there, the same Write delivers. A broker lost
// between Writes is the same again.
func TestMQTTBrokerDownThenBack(t *testing.T) {
	addr := ingesttest.FreeAddr(t)
	cfg := mqttConfig("tcp://" + addr)
	cfg.Topic, cfg.Timeout = "up/{measurement}", 2*time.Second
	s := newSink(t, cfg)
	var re *RetryableError
	if err := s.Write(context.Background(), []byte("m v=1 1\n")); !errors.As(err, &re) {
		t.Fatalf("no broker: got %v, want *RetryableError", err)
	}

	b := ingesttest.StartBroker(t, addr)
	sub := subscribe(t, "tcp://"+addr, "up/#")
	if err := s.Write(context.Background(), []byte("m v=1 1\n")); err != nil {
		t.Fatalf("broker back: %v", err)
	}
	sub.waitN(t, 1)

	b.Close()
	if err := s.Write(context.Background(), []byte("m v=2 2\n")); !errors.As(err, &re) {
		t.Fatalf("broker gone: got %v, want *RetryableError", err)
	}
	ingesttest.StartBroker(t, addr)
	sub = subscribe(t, "tcp://"+addr, "up/#")
	if err := s.Write(context.Background(), []byte("m v=2 2\n")); err != nil {
		t.Fatalf("broker back again: %v", err)
	}
	got := sub.waitN(t, 1)
	if got[0].Payload != `[{"measurement":"m","tags":{},"fields":{"v":2.0},"time":"1970-01-01T00:00:00.000000002Z","ts":2}]` {
		t.Errorf("got %q", got[0].Payload)
	}
}

// TestMQTTNoPubackTimesOut: a broker that accepts the connection but never
// acknowledges the publish makes Write retryable after the timeout.
func TestMQTTNoPubackTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil { // CONNECT
					return
				}
				if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil { // CONNACK, accepted
					return
				}
				for { // swallow PUBLISH, never PUBACK
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	cfg := mqttConfig("tcp://" + l.Addr().String())
	cfg.Timeout = 300 * time.Millisecond
	var re *RetryableError
	err = newSink(t, cfg).Write(context.Background(), []byte("alert,rule=r,site=s v=1 1\n"))
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "no PUBACK") {
		t.Fatalf("got %v, want a retryable no PUBACK error", err)
	}
}

// TestMQTTPersistentSession: the sink connects with clean_session false, so
// the broker keeps its session: a later connection under the same client id
// finds it present.
func TestMQTTPersistentSession(t *testing.T) {
	broker := ingesttest.Mosquitto(t)
	cfg := mqttConfig(broker)
	s := newSink(t, cfg)
	if err := s.Write(context.Background(), []byte("alert,rule=r,site=s v=1 1\n")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(cfg.ClientID).SetCleanSession(false)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(testDeadline) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if !tok.(*paho.ConnectToken).SessionPresent() {
		t.Error("broker has no session for the sink's client id")
	}
}

// TestMQTTMutualTLS delivers over TLS with a client certificate, and
// refuses a broker signed by another CA.
func TestMQTTMutualTLS(t *testing.T) {
	p, other := ingesttest.NewPKI(t), ingesttest.NewPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.CA, "certfile "+p.ServerCert, "keyfile "+p.ServerKey,
		"require_certificate true")
	url = strings.Replace(url, "tcp://", "mqtts://", 1)
	cfg := mqttConfig(url)
	cfg.TLS = TLSConfig{CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}
	s := newSink(t, cfg)
	if err := s.Write(context.Background(), []byte("alert,rule=r,site=s v=1 1\n")); err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	cfg.TLS.CAFile = other.CA
	s = newSink(t, cfg)
	var re *RetryableError
	if err := s.Write(context.Background(), []byte("alert,rule=r,site=s v=1 1\n")); !errors.As(err, &re) ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unknown CA: got %v, want a retryable certificate error", err)
	}
}

// TestMQTTPassword logs in with username and password_file; a wrong
// password is a retryable failure (the site's config, not the batch).
func TestMQTTPassword(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command(bin, "-b", "-c", pwFile, "edge", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	if err := os.Chmod(pwFile, 0o644); err != nil {
		t.Fatal(err)
	}
	broker := ingesttest.Mosquitto(t, "allow_anonymous false", "password_file "+pwFile)
	for _, tt := range []struct {
		password string
		ok       bool
	}{{"s3cret\n", true}, {"wrong", false}} {
		cfg := mqttConfig(broker)
		cfg.Username, cfg.PasswordFile = "edge", writeFile(t, "pw", tt.password)
		err := newSink(t, cfg).Write(context.Background(), []byte("alert,rule=r,site=s v=1 1\n"))
		var re *RetryableError
		if tt.ok && err != nil || !tt.ok && !errors.As(err, &re) {
			t.Errorf("password %q: got %v", tt.password, err)
		}
	}
	cfg := mqttConfig(broker)
	cfg.Username, cfg.PasswordFile = "edge", filepath.Join(dir, "missing")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("missing secret: got %v, want a password_file error", err)
	}
}

// TestMQTTUnparsableBatchIsPermanent dead-letters what cannot be parsed.
func TestMQTTUnparsableBatchIsPermanent(t *testing.T) {
	s := newSink(t, mqttConfig("tcp://127.0.0.1:1"))
	var perm *PermanentError
	if err := s.Write(context.Background(), []byte("no fields here\n")); !errors.As(err, &perm) {
		t.Errorf("got %v, want *PermanentError", err)
	}
}

// mqttLineFactory is the mqtt sink in the shared suite: line protocol to
// one topic, read back by a subscriber up to a sentinel published after
// the sink's messages were acknowledged.
func mqttLineFactory(t *testing.T) (Sink, func() string) {
	broker := ingesttest.Mosquitto(t)
	sub := subscribe(t, broker, "suite/#")
	cfg := mqttConfig(broker)
	cfg.Topic, cfg.Format = "suite/out", "line"
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() string {
		const sentinel = "--sentinel--"
		ingesttest.Publish(t, broker, "suite/out", 1, sentinel)
		var b strings.Builder
		for _, m := range sub.waitPayload(t, sentinel) {
			b.WriteString(m.Payload)
		}
		return b.String()
	}
}

// TestMQTTRunnerRetriesUntilBrokerIsBack runs the sink under a Runner with
// no broker listening: the batch is retried, nothing is committed, and once
// a broker is up the batch arrives and the cursor moves.
func TestMQTTRunnerRetriesUntilBrokerIsBack(t *testing.T) {
	addr := ingesttest.FreeAddr(t)
	cfg := mqttConfig("tcp://" + addr)
	cfg.Topic, cfg.Format, cfg.Timeout = "edge/{sensor}", "line", 2*time.Second
	s := newSink(t, cfg)
	box := newFakeOutbox("m,sensor=a v=1 1\n", "m,sensor=b v=2 2\n")
	r := NewRunner(cfg, box, s, filepath.Join(t.TempDir(), "dead.lp"), nil)
	failed, ready := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sl := &sleepRecorder{onSleep: func() {
		if len(box.Commits()) > 0 {
			t.Errorf("committed %v before the broker was up", box.Commits())
		}
		// The first failed attempt waits until the broker is up.
		once.Do(func() {
			close(failed)
			<-ready
		})
	}}
	r.sleep = sl.sleep
	startRunner(t, r)
	select {
	case <-failed:
	case <-time.After(testDeadline):
		t.Fatal("no failed attempt")
	}
	ingesttest.StartBroker(t, addr)
	sub := subscribe(t, "tcp://"+addr, "edge/#")
	close(ready)
	box.waitCommitted(t, 2)
	got := sub.waitN(t, 2)
	slices.SortFunc(got, func(a, b mqttMsg) int { return strings.Compare(a.Topic, b.Topic) })
	want := []mqttMsg{{"edge/a", "m,sensor=a v=1 1\n"}, {"edge/b", "m,sensor=b v=2 2\n"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if st := r.Stats(); st.DeliveredPoints != 2 || st.Retries == 0 {
		t.Errorf("stats %+v", st)
	}
}
