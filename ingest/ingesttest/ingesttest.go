// Package ingesttest starts MQTT brokers and publishes to them, for tests of
// rivulet's packages. Brokers listen on 127.0.0.1 only, on ports chosen at
// run time, and are stopped by t.Cleanup.
package ingesttest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/rivulet-edge/rivulet/ingest"
)

// RequireInteropEnv names the environment variable that turns a missing
// mosquitto from a skip into a failure.
const RequireInteropEnv = "RIVULET_REQUIRE_INTEROP"

// startTimeout bounds how long a broker may take to accept connections.
const startTimeout = 10 * time.Second

// Embedded starts rivulet's embedded broker on a free port and returns its
// URL, "tcp://127.0.0.1:PORT".
func Embedded(t testing.TB) string {
	t.Helper()
	b, err := ingest.NewBroker(ingest.BrokerConfig{Enabled: true, Listen: "127.0.0.1:0"}, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return "tcp://" + b.Addr()
}

// StartBroker starts rivulet's embedded broker on addr, which a test
// chose before (FreeAddr), and closes it at the end of the test. Until the
// broker binds it, the port can be taken for a moment as the ephemeral
// port of any outgoing connection on the machine (other packages' tests,
// the agent's own reconnect attempts), so a bind that fails is retried
// for up to startTimeout.
func StartBroker(t testing.TB, addr string) *ingest.Broker {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		b, err := ingest.NewBroker(ingest.BrokerConfig{Enabled: true, Listen: addr}, Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err = b.Start(); err == nil {
			t.Cleanup(func() { b.Close() })
			return b
		}
		b.Close()
		if time.Now().After(deadline) {
			t.Fatalf("start broker on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Mosquitto starts Debian's mosquitto on a free port with anonymous access
// and no persistence, plus the extraConf lines, and returns its URL,
// "tcp://127.0.0.1:PORT". Without mosquitto (on PATH, or in /usr/sbin where
// Debian puts it) the test is skipped, or fails when RIVULET_REQUIRE_INTEROP=1.
func Mosquitto(t testing.TB, extraConf ...string) string {
	t.Helper()
	bin := findMosquitto()
	if bin == "" {
		if os.Getenv(RequireInteropEnv) == "1" {
			t.Fatalf("mosquitto not found and %s=1", RequireInteropEnv)
		}
		t.Skip("mosquitto not installed")
	}
	dir := t.TempDir()
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		// The port is free when chosen; another process may take it before
		// mosquitto binds, hence the retries.
		addr := FreeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n%s\n",
			port, strings.Join(extraConf, "\n"))
		path := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := startProcess(bin, "-c", path)
		if err != nil {
			t.Fatal(err)
		}
		if err := waitListening(addr, p.exited); err == nil {
			t.Cleanup(func() {
				p.kill()
				if t.Failed() {
					t.Logf("mosquitto output:\n%s", p.out.String())
				}
			})
			return "tcp://" + addr
		}
		p.kill()
		lastOut = p.out.String()
	}
	t.Fatalf("mosquitto did not start:\n%s", lastOut)
	return ""
}

func findMosquitto() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a started broker process.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func startProcess(bin string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill ends the process and waits for it.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// waitListening polls addr until it accepts a connection, the process exits
// or startTimeout passes.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, startTimeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("broker exited before listening on %s", addr)
		case <-tick.C:
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Publish connects a fresh client to broker, publishes each payload to
// topic with qos, waiting for the broker to take each one, and disconnects.
func Publish(t testing.TB, broker, topic string, qos byte, payloads ...string) {
	t.Helper()
	c := Client(t, broker, "")
	defer c.Disconnect(250)
	for _, p := range payloads {
		tok := c.Publish(topic, qos, false, p)
		if !tok.WaitTimeout(startTimeout) || tok.Error() != nil {
			t.Fatalf("publish to %s: %v", topic, tok.Error())
		}
	}
}

// Client returns a connected paho client with a clean session; an empty
// clientID gets a unique one. The test disconnects it or t.Cleanup does.
func Client(t testing.TB, broker, clientID string) paho.Client {
	t.Helper()
	if clientID == "" {
		clientID = fmt.Sprintf("ingesttest-%d", time.Now().UnixNano())
	}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(startTimeout)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(startTimeout) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(250)
		}
	})
	return c
}

// Logger returns a logger that writes to t.Log while the test runs and
// discards what comes later (from goroutines still stopping).
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// WaitFor polls cond until it holds or the timeout passes, then fails the
// test with what.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}
