package main

// The chaos suite's environment: its gate, the agent config and a
// persistent mosquitto that restarts on the same port (see chaos_test.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

const (
	// chaosEnv turns the chaos suite on.
	chaosEnv = "RIVULET_CHAOS"
	// chaosCyclesEnv sets the number of SIGKILL cycles of TestChaosKillLoop.
	chaosCyclesEnv = "RIVULET_CHAOS_CYCLES"
	// chaosSegmentEnv sets wal.segment_size (default 1MiB): a small one
	// makes every checkpoint remove ingest-log segments.
	chaosSegmentEnv = "RIVULET_CHAOS_SEGMENT_SIZE"
	// chaosDevices is the size of the simulated fleet.
	chaosDevices = 200
	// chaosZones spreads the devices over greenhouse/z0..z9/lp.
	chaosZones = 10
	// chaosStep is the event time between two readings of one device.
	chaosStep = 50 * time.Millisecond
	// chaosRSSBound is the memory bound the agent must stay under with the
	// chaos config (1 MiB segments, a queue of at most 1000 messages): the README's
	// "about 3x segment_size" plus the runtime, with room for a burst.
	chaosRSSBound = 96 << 20
)

// chaosGate skips the test unless RIVULET_CHAOS=1.
func chaosGate(t *testing.T) {
	t.Helper()
	if os.Getenv(chaosEnv) != "1" {
		t.Skipf("chaos suite: set %s=1 (make chaos, or scripts/chaos.sh --short)", chaosEnv)
	}
}

// chaosCycles reads RIVULET_CHAOS_CYCLES (default 20, at least 1).
func chaosCycles(t *testing.T) int {
	t.Helper()
	v := os.Getenv(chaosCyclesEnv)
	if v == "" {
		return 20
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", chaosCyclesEnv, v)
	}
	return n
}

// figures prints one machine-readable line of results for scripts/chaos.sh.
func figures(t *testing.T, name string, f map[string]any) {
	t.Helper()
	f["test"] = name
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CHAOS-FIGURES %s\n", b)
	t.Logf("CHAOS-FIGURES %s", b)
}

// chaosOpts shapes the agent's config for one chaos test.
type chaosOpts struct {
	broker  string // the URL the agent connects to (maybe a proxy)
	web     string // the HTTP listener for /metrics
	dataDir string // default dir/data
	qos0    bool   // also subscribe burst/+/lp with QoS 0
	upload  string // URL of an HTTP line-protocol sink "cloud" (then the only sink)
	queue   int    // batch.queue (default 1000)
	walMax  string // wal.max_size (default 64MiB)
}

// chaosConfig writes the agent's config: one QoS 1 MQTT source, 1 s
// tumbling windows per device (max_delay 2s: the fleet moves in lockstep, so
// event-time skew between devices stays far below it) and a file sink or an
// HTTP sink. idle_timeout (4s) exceeds what a silent link takes to be
// declared down (keep_alive 2s + ping timeout 1s): below that, idle time
// during a black hole advances the watermark past the broker's backlog.
func chaosConfig(t *testing.T, dir string, o chaosOpts) string {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(dir, "data")
	}
	if o.queue == 0 {
		o.queue = 1000
	}
	if o.walMax == "" {
		o.walMax = "64MiB"
	}
	segment := os.Getenv(chaosSegmentEnv)
	if segment == "" {
		segment = "1MiB"
	}
	topics := `        - filter: greenhouse/+/lp
          format: influx
          tags: {zone: "{1}"}
`
	if o.qos0 {
		topics += `        - filter: burst/+/lp
          format: influx
          qos: 0
          tags: {zone: "{1}"}
`
	}
	to, sinks := "[local]", fmt.Sprintf(`  - name: local
    type: file
    path: %s/results.lp
    retry: {initial: 50ms, max: 500ms}
`, dir)
	if o.upload != "" {
		to, sinks = "[cloud]", fmt.Sprintf(`  - name: cloud
    type: http
    url: %s
    format: line
    batch: true
    retry: {initial: 50ms, max: 500ms}
`, o.upload)
	}
	cfg := fmt.Sprintf(`site: test
data_dir: %s
log: {level: info, format: text}
http: {listen: %q}
embedded_broker: {enabled: false}
sources:
  mqtt:
    - name: sensors
      broker: %s
      client_id: rivulet-chaos
      qos: 1
      keep_alive: 2s
      max_reconnect: 1s
      topics:
%sbatch: {max_points: 10000, max_bytes: 4MiB, linger: 20ms, heartbeat: 200ms, queue: %d}
wal: {durability: fsync, segment_size: %s, max_size: %s}
checkpoint: {interval: 300ms}
pipeline:
  - name: temp_1s
    measurement: temperature
    window: {type: tumbling, size: 1s, max_delay: 2s, idle_timeout: 4s}
    group_by: [zone, sensor]
    aggregates: [count, mean, min, max]
    to: %s
sinks:
%s`, o.dataDir, o.web, o.broker, topics, o.queue, segment, o.walMax, to, sinks)
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// chaosBroker is a mosquitto with persistence on a fixed loopback port that
// the test can restart; its session store survives restarts.
type chaosBroker struct {
	t    *testing.T
	bin  string
	conf string
	addr string
	log  *bytes.Buffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startChaosBroker starts mosquitto with `persistence true` and raised
// inflight and queue limits, and stops it at the end of the test.
func startChaosBroker(t *testing.T) *chaosBroker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv(ingesttest.RequireInteropEnv) == "1" {
				t.Fatalf("mosquitto not found and %s=1", ingesttest.RequireInteropEnv)
			}
			t.Skip("mosquitto not installed")
		}
	}
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		// As root, mosquitto would switch to the user "mosquitto", which
		// cannot write the test's private directory: persistence would
		// silently fail.
		user = "user root\n"
	}
	b := &chaosBroker{t: t, bin: bin, conf: filepath.Join(dir, "mosquitto.conf"), log: &bytes.Buffer{}}
	for attempt := 0; ; attempt++ {
		b.addr = ingesttest.FreeAddr(t)
		_, port, _ := net.SplitHostPort(b.addr)
		conf := fmt.Sprintf(`listener %s 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_inflight_messages 200
max_queued_messages 1000000
max_queued_bytes 0
log_dest stderr
%s`, port, dir, user)
		if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		err := b.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("mosquitto did not start: %v\n%s", err, b.output())
		}
	}
	t.Cleanup(func() {
		b.kill()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", b.output())
		}
	})
	return b
}

func (b *chaosBroker) url() string { return "tcp://" + b.addr }

func (b *chaosBroker) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

type brokerLog struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l brokerLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// start runs mosquitto and waits (up to 10 s) until it accepts connections.
func (b *chaosBroker) start() error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = brokerLog{&b.mu, b.log}, brokerLog{&b.mu, b.log}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.cmd, b.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("mosquitto exited before listening")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.kill()
			return fmt.Errorf("mosquitto not listening on %s after 10s: %w", b.addr, err)
		}
	}
}

// restart stops mosquitto with SIGTERM (it saves its sessions and queues)
// and starts it again on the same port.
func (b *chaosBroker) restart() {
	b.t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.t.Fatal("mosquitto did not stop within 10s of SIGTERM")
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger a moment
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("mosquitto did not restart: %v\n%s", err, b.output())
}

func (b *chaosBroker) kill() {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.done:
	default:
		b.cmd.Process.Kill()
		<-b.done
	}
}

// fleet is chaosDevices simulated devices, one MQTT client each. Every tick
// each device publishes its next sequence number (as the value) with the
// tick's event time, QoS 1; the tick ends when every PUBACK is in. acked
// is the oracle: only what the broker acknowledged.
