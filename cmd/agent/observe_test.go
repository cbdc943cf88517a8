package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// scrape reads the agent's /metrics into name{labels} → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			m[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	return m
}

// TestMetricsAndDamagedRestart checks that /metrics reports what happened,
// then damages the ingest log and an outbox on disk and checks that the
// agent starts anyway, reports the repair and keeps working.
func TestMetricsAndDamagedRestart(t *testing.T) {
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0")
	cfg := siteConfig(t, dir, broker, "", "")
	web := ingesttest.FreeAddr(t)
	agent := startAgent(t, cfg, "RIVULET_HTTP_LISTEN="+web)
	waitSubscribed(t, agent)
	rs := readings(1, 2, 100, 11)
	if err := publish(context.Background(), broker, "pub-metrics", rs, 0); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results.lp")
	want := expected(rs, time.Second, "temp_1s")
	waitFor(t, 30*time.Second, "results", func() bool { return len(results(t, out)) >= len(want) })
	// The file sink writes before the runner counts the delivery.
	var m map[string]float64
	waitFor(t, 10*time.Second, "the delivery to be counted", func() bool {
		m = scrape(t, web)
		return m[`rivulet_sink_points_total{sink="local"}`] >= float64(len(want))
	})
	for name, v := range map[string]float64{
		"rivulet_messages_total":                                float64(len(rs)),
		"rivulet_points_total":                                  float64(len(rs)),
		`rivulet_source_up{source="sensors"}`:                   1,
		`rivulet_source_messages_total{source="sensors"}`:       float64(len(rs)),
		"rivulet_results_total":                                 float64(len(want)),
		"rivulet_late_points_total":                             0,
		`rivulet_sink_points_total{sink="local"}`:               float64(len(want)),
		`rivulet_source_decode_errors_total{source="sensors"}`:  0,
		`rivulet_redeliveries_deduplicated_total`:               0,
		`rivulet_redeliveries_unmatched_total`:                  0,
		`rivulet_dropped_total{reason="qos0_queue_full"}`:       0,
		`rivulet_sink_dead_lettered_points_total{sink="local"}`: 0,
	} {
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if resp, err := http.Get("http://" + web + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	}
	agent.stop(t)

	damageTail(t, filepath.Join(dir, "data", "log"), []byte("\x7fgarbage that is no record"))
	damageTail(t, filepath.Join(dir, "data", "outbox", "local"), []byte{0x40, 0xA1, 0x04})

	agent = startAgent(t, cfg)
	waitSubscribed(t, agent)
	if !strings.Contains(agent.output(), "ingest log repaired") || !strings.Contains(agent.output(), "outbox repaired") {
		t.Fatalf("repairs not reported:\n%s", agent.output())
	}
	more := readings(1, 2, 100, 12)
	for i := range more {
		more[i].ts += int64(time.Hour) // later windows
	}
	if err := publish(context.Background(), broker, "pub-metrics", more, 0); err != nil {
		t.Fatal(err)
	}
	for id, a := range expected(more, time.Second, "temp_1s") {
		want[id] = a
	}
	waitFor(t, 30*time.Second, "results after the repair", func() bool { return len(results(t, out)) >= len(want) })
	agent.stop(t)
	compare(t, results(t, out), want)
}

// damageTail appends junk to the newest segment file of a log directory, as
// a torn write at power loss would leave it.
func damageTail(t *testing.T, dir string, junk []byte) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "0*"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(junk); err != nil {
		t.Fatal(err)
	}
}

// TestBusyMetricsPort: the status page's port is taken by something else.
// The agent says so and keeps processing; monitoring never stops ingestion.
func TestBusyMetricsPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	broker := ingesttest.Mosquitto(t, "max_queued_messages 0")
	agent := startAgent(t, siteConfig(t, dir, broker, "", ""), "RIVULET_HTTP_LISTEN="+busy.Addr().String())
	waitSubscribed(t, agent)
	rs := readings(1, 1, 100, 4)
	if err := publish(context.Background(), broker, "pub-busy", rs, 0); err != nil {
		t.Fatal(err)
	}
	want := expected(rs, time.Second, "temp_1s")
	out := filepath.Join(dir, "results.lp")
	waitFor(t, 30*time.Second, "results", func() bool { return len(results(t, out)) >= len(want) })
	agent.stop(t)
	compare(t, results(t, out), want)
	if !strings.Contains(agent.output(), "cannot serve the status page and metrics") {
		t.Errorf("the busy port was not reported:\n%s", agent.output())
	}
}
