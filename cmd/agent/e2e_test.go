package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// siteConfig is the config the subprocess tests run: one MQTT source with
// influx-format payloads on greenhouse/<zone>/lp, 1 s tumbling windows and a
// file sink (plus extra sinks when given).
func siteConfig(t *testing.T, dir, broker string, embedded string, extraSinks string) string {
	t.Helper()
	sinks := "[local]"
	if extraSinks != "" {
		sinks = "[local, cloud]"
	}
	embed := "embedded_broker: {enabled: false}"
	if embedded != "" {
		embed = fmt.Sprintf("embedded_broker: {enabled: true, listen: %q}", embedded)
	}
	cfg := fmt.Sprintf(`site: test
data_dir: %[1]s/data
log: {level: debug, format: text}
http: {listen: ""}
%[2]s
sources:
  mqtt:
    - name: sensors
      broker: %[3]s
      client_id: rivulet-test
      qos: 1
      topics:
        - filter: greenhouse/+/lp
          format: influx
          tags: {zone: "{1}"}
batch: {max_points: 10000, max_bytes: 4MiB, linger: 20ms, heartbeat: 200ms}
wal: {durability: fsync, segment_size: 1MiB, max_size: 64MiB}
checkpoint: {interval: 300ms}
pipeline:
  - name: temp_1s
    measurement: temperature
    window: {type: tumbling, size: 1s, max_delay: 500ms, idle_timeout: 1s}
    group_by: [zone, sensor]
    aggregates: [count, mean, min, max]
    to: %[4]s
sinks:
  - name: local
    type: file
    path: %[1]s/results.lp
    retry: {initial: 50ms, max: 500ms}
%[5]s`, dir, embed, broker, sinks, extraSinks)
	path := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readings makes n readings per sensor, one every 10 ms of event time, with
// small out-of-order swaps well inside max_delay.
func readings(zones, sensors, n int, seed uint64) []reading {
	rng := rand.New(rand.NewPCG(seed, 7))
	base := int64(1_700_000_000) * int64(time.Second)
	var rs []reading
	for i := 0; i < n; i++ {
		for z := 0; z < zones; z++ {
			for s := 0; s < sensors; s++ {
				rs = append(rs, reading{zone: fmt.Sprintf("z%d", z), sensor: fmt.Sprintf("s%d", s),
					value: float64(rng.IntN(4000))/100 - 5, ts: base + int64(i)*int64(10*time.Millisecond)})
			}
		}
	}
	for i := 0; i+3 < len(rs); i += 7 { // out of order by up to 30 ms of event time
		rs[i], rs[i+3] = rs[i+3], rs[i]
	}
	return rs
}

// publish sends readings with QoS 1, each only after the previous PUBACK.
func publish(ctx context.Context, broker, clientID string, rs []reading, pace time.Duration) error {
	return publishWith(ctx, broker, clientID, "", "", rs, pace)
}

func publishWith(ctx context.Context, broker, clientID, user, password string, rs []reading, pace ...time.Duration) error {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publisher connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for i, r := range rs {
		payload := fmt.Sprintf("temperature,sensor=%s value=%g %d", r.sensor, r.value, r.ts)
		tok := c.Publish("greenhouse/"+r.zone+"/lp", 1, false, payload)
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			return fmt.Errorf("publish %d: no PUBACK: %v", i, tok.Error())
		}
		if len(pace) > 0 && pace[0] > 0 && i%10 == 9 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pace[0]):
			}
		}
	}
	return nil
}

// TestEndToEnd publishes timestamped readings, some out of order, through a
// real broker and compares the file sink with independently computed
// aggregates.
func TestEndToEnd(t *testing.T) {
	for _, kind := range []string{"embedded", "mosquitto", "mosquitto durability write"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			var broker, embedded string
			if kind == "embedded" {
				embedded = ingesttest.FreeAddr(t)
				broker = "tcp://" + embedded
			} else {
				broker = ingesttest.Mosquitto(t, "max_queued_messages 0", "max_inflight_messages 100")
			}
			cfg := siteConfig(t, dir, broker, embedded, "")
			var env []string
			if strings.HasSuffix(kind, "write") {
				env = append(env, "RIVULET_WAL_DURABILITY=write")
			}
			agent := startAgent(t, cfg, env...)
			waitSubscribed(t, agent)
			rs := readings(2, 3, 300, 1)
			if err := publish(context.Background(), broker, "pub-e2e", rs, 0); err != nil {
				t.Fatal(err)
			}
			want := expected(rs, time.Second, "temp_1s")
			out := filepath.Join(dir, "results.lp")
			waitFor(t, 30*time.Second, "all windows in the file sink", func() bool {
				return len(results(t, out)) >= len(want)
			})
			agent.stop(t)
			compare(t, results(t, out), want)
			if strings.Contains(agent.output(), "level=ERROR") {
				t.Errorf("agent logged errors:\n%s", agent.output())
			}
		})
	}
}
