package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/forward/influxtest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestInfluxForwarding runs the agent with an InfluxDB 1.x sink against
// Debian's influxd on a loopback port and queries the results back.
func TestInfluxForwarding(t *testing.T) {
	influx := influxtest.Start(t)
	influxtest.Query(t, influx, "", "CREATE DATABASE edge")
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0", "max_inflight_messages 100")
	cloud := fmt.Sprintf(`  - name: cloud
    type: influx
    url: %s/write?db=edge
    gzip: true
    retry: {initial: 50ms, max: 500ms}
`, influx)
	agent := startAgent(t, siteConfig(t, dir, broker, "", cloud))
	waitSubscribed(t, agent)
	rs := readings(2, 2, 300, 5)
	if err := publish(context.Background(), broker, "pub-influx", rs, 0); err != nil {
		t.Fatal(err)
	}
	want := expected(rs, time.Second, "temp_1s")
	var got map[string]map[string]float64
	waitFor(t, 30*time.Second, "all windows in InfluxDB", func() bool {
		got = queryResults(t, influx)
		return len(got) >= len(want)
	})
	agent.stop(t)
	compare(t, got, want)
	// The file sink saw the same results.
	compare(t, results(t, filepath.Join(dir, "results.lp")), want)
}

// queryResults reads every temp_1s point back as identity → fields.
func queryResults(t *testing.T, influx string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, s := range influxtest.Query(t, influx, "edge", "SELECT * FROM temp_1s GROUP BY *") {
		keys := make([]string, 0, len(s.Tags))
		for k := range s.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var tags strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&tags, ",%s=%s", k, s.Tags[k])
		}
		for _, row := range s.Values {
			fields := map[string]float64{}
			var ts string
			for i, col := range s.Columns {
				n, _ := row[i].(json.Number)
				if col == "time" {
					ts = n.String()
					continue
				}
				fields[col], _ = n.Float64()
			}
			out[fmt.Sprintf("%s%s %s", s.Name, tags.String(), ts)] = fields
		}
	}
	return out
}

// gate is a TCP proxy to target that refuses connections until opened.
type gate struct {
	addr   string
	target string
	open   chan struct{}
}

func startGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused until opened
	return &gate{addr: addr, target: target, open: make(chan struct{})}
}

// Open starts forwarding; the proxy ends with the test.
func (g *gate) Open(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", g.target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
}

// TestKillDuringBacklogDelivery: the upstream is away while the results of
// a whole run pile up in the outbox; it returns, the agent is SIGKILLed in
// the middle of delivering the backlog and restarted. Every result ends up
// in InfluxDB once with its exact value: the repeats after the restart are
// overwrites of the same points.
func TestKillDuringBacklogDelivery(t *testing.T) {
	influx := influxtest.Start(t)
	influxtest.Query(t, influx, "", "CREATE DATABASE edge")
	u, err := url.Parse(influx)
	if err != nil {
		t.Fatal(err)
	}
	g := startGate(t, u.Host)
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0", "max_inflight_messages 100")
	cloud := fmt.Sprintf(`  - name: cloud
    type: influx
    url: http://%s/write?db=edge
    batch_points: 4
    rate_limit: 2KiB
    retry: {initial: 50ms, max: 200ms}
`, g.addr)
	cfg := siteConfig(t, dir, broker, "", cloud)
	agent := startAgent(t, cfg)
	waitSubscribed(t, agent)
	rs := readings(2, 3, 200, 9)
	if err := publish(context.Background(), broker, "pub-backlog", rs, 0); err != nil {
		t.Fatal(err)
	}
	want := expected(rs, time.Second, "temp_1s")
	waitFor(t, 60*time.Second, "every window in the local file (the cloud backlog is complete)", func() bool {
		return len(results(t, filepath.Join(dir, "results.lp"))) >= len(want)
	})
	g.Open(t)
	waitFor(t, 60*time.Second, "the first results in InfluxDB", func() bool {
		n := len(queryResults(t, influx))
		return n > 0 && n < len(want)
	})
	agent.kill()
	partial := len(queryResults(t, influx))
	agent = startAgent(t, cfg)
	var got map[string]map[string]float64
	waitFor(t, 90*time.Second, "every window in InfluxDB after the restart", func() bool {
		got = queryResults(t, influx)
		return len(got) >= len(want)
	})
	agent.stop(t)
	t.Logf("killed with %d of %d results delivered", partial, len(want))
	if partial >= len(want) {
		t.Fatalf("the kill came after the whole backlog was delivered (%d results)", partial)
	}
	compare(t, got, want)
}
