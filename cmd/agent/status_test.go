package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
	"github.com/rivulet-edge/rivulet/wal"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", "http://127.0.0.1:8086/write?db=edge", "http://127.0.0.1:8086/write?db=edge"},
		{"userinfo", "http://admin:hunter2@influx:8086/write?db=edge", "http://REDACTED@influx:8086/write?db=edge"},
		{"influx 1.x u and p", "http://influx/write?db=edge&u=admin&p=hunter2", "http://influx/write?db=edge&p=REDACTED&u=REDACTED"},
		{"token", "https://cloud/api/v2/write?org=o&bucket=b&token=hunter2", "https://cloud/api/v2/write?bucket=b&org=o&token=REDACTED"},
		{"broker", "ssl://user:hunter2@broker:8883", "ssl://REDACTED@broker:8883"},
		{"unparsable", "http://a b:hunter2@[::1", "REDACTED (unparsable URL)"},
		{"empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := redactURL(c.in); got != c.want {
				t.Errorf("redactURL(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	msg := `influx: Post "http://admin:***@influx/write?db=edge&p=hunter2": dial tcp: connection refused`
	if got := redactError(msg); strings.Contains(got, "hunter2") || !strings.Contains(got, "connection refused") {
		t.Errorf("redactError(%q) = %q", msg, got)
	}
}

// openTestAgent opens, without running, an agent on the subprocess tests'
// site config.
func openTestAgent(t *testing.T) *agent {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load(siteConfig(t, dir, "tcp://127.0.0.1:1", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAgent(cfg, ingesttest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// TestMetricsFormat checks the text format (one HELP and TYPE per family,
// its samples together, histograms cumulative) and that /api/status holds
// the same samples as /metrics when both render one collection.
func TestMetricsFormat(t *testing.T) {
	a := openTestAgent(t)
	a.batcher.Stats().BatchSize.Observe(3)
	a.batcher.Stats().BatchSize.Observe(30000)
	s := a.collect()
	var buf bytes.Buffer
	writeMetrics(&buf, s.metrics)
	samples := map[string]float64{}
	typed, current := map[string]bool{}, ""
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			current = strings.Fields(f)[0]
			if typed[current] {
				t.Errorf("family %s typed twice", current)
			}
			typed[current] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(series, current) {
			t.Errorf("sample %s outside its family (after %s)", series, current)
		}
		var v float64
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			t.Errorf("%s: value %q: %v", series, value, err)
		}
		samples[series] = v
	}
	for series, v := range map[string]float64{
		`rivulet_batch_messages_bucket{le="2"}`:           0,
		`rivulet_batch_messages_bucket{le="5"}`:           1,
		`rivulet_batch_messages_bucket{le="10000"}`:       1,
		`rivulet_batch_messages_bucket{le="+Inf"}`:        2,
		`rivulet_batch_messages_count`:                    2,
		`rivulet_batch_messages_sum`:                      30003,
		`rivulet_outbox_entries{sink="local"}`:            0,
		`rivulet_outbox_oldest_age_seconds{sink="local"}`: 0,
		`rivulet_dropped_total{reason="quarantined"}`:     0,
		`rivulet_open_windows`:                            0,
	} {
		if got, ok := samples[series]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_cycles_total",
		"rivulet_ack_latency_seconds_count", "rivulet_checkpoint_age_seconds", "rivulet_log_entries",
		"rivulet_log_points_bytes_total", "rivulet_log_written_bytes_total"} {
		if _, ok := samples[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	st := a.status(s, verdict{OK: true}, verdict{OK: true})
	if len(st.Metrics) != len(samples) {
		t.Errorf("/api/status has %d samples, /metrics %d", len(st.Metrics), len(samples))
	}
	for series, v := range samples {
		if got, ok := st.Metrics[series]; !ok || got != v {
			t.Errorf("/api/status %s = %v (present %v), /metrics %v", series, got, ok, v)
		}
	}
}

// TestHealthStalls drives the health checks of an agent that is opened but
// not running, so that nothing moves: the engine behind the log, then a
// message queued that the batcher never commits.
func TestHealthStalls(t *testing.T) {
	a := openTestAgent(t)
	start := time.Now()
	fresh := func() *progress {
		return newProgress(start, a.batcher.Stats().Batches.Load(), a.log.LastIndex())
	}
	p := fresh()
	if v := a.health(p, start.Add(time.Hour)); !v.OK {
		t.Fatalf("idle agent unhealthy: %s", v.Reason)
	}
	if v := a.ready(p); v.OK || !strings.Contains(v.Reason, "source sensors not connected") {
		t.Errorf("ready with a disconnected source: %+v", v)
	}
	if _, _, err := a.log.Append(&wal.Entry{Kind: wal.KindHeartbeat, IngestTime: 1}); err != nil {
		t.Fatal(err)
	}
	a.engine.Notify(a.log.LastIndex()) // committed, never applied: the engine does not run
	p = fresh()
	for _, c := range []struct {
		after time.Duration
		ok    bool
	}{{0, true}, {stallLimit - time.Second, true}, {stallLimit + time.Second, false}} {
		v := a.health(p, start.Add(c.after))
		if v.OK != c.ok || !c.ok && !strings.HasPrefix(v.Reason, "engine stalled: applied log index 0, 1 committed entries behind") {
			t.Errorf("engine behind for %s: %+v, want ok %v", c.after, v, c.ok)
		}
	}
	if v := a.ready(p); v.OK || !strings.HasPrefix(v.Reason, "recovering") {
		t.Errorf("ready before the replay: %+v", v)
	}

	a.engine.Stats().Index.Store(a.log.LastIndex()) // as if applied
	a.batcher.Handle(&ingest.Message{QoS: 1})
	p = fresh()
	if v := a.health(p, start.Add(stallLimit+time.Second)); v.OK || !strings.HasPrefix(v.Reason, "batcher stalled: 1 messages queued") {
		t.Errorf("batcher stuck for %s: %+v", stallLimit, v)
	}

	srv := httptest.NewServer(a.httpHandler())
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/": 200, "/app.js": 200,
		"/style.css": 200, "/api/status": 200, "/metrics": 200, "/nothing": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d: %s", path, resp.StatusCode, want, body)
		}
	}
}

// TestReadyAfterConnect runs the agent against a broker that is not there
// yet: /readyz is 503 with the reason, /healthz 200, until the broker
// starts and the source connects.
func TestReadyAfterConnect(t *testing.T) {
	dir := t.TempDir()
	addr := ingesttest.FreeAddr(t)
	web := ingesttest.FreeAddr(t)
	agent := startAgent(t, siteConfig(t, dir, "tcp://"+addr, "", ""), "RIVULET_HTTP_LISTEN="+web)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + web + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 20*time.Second, "the HTTP server", func() bool { code, _ := get("/healthz"); return code == 200 })
	// Recovery finishes within moments; then the missing broker is the reason.
	waitFor(t, 10*time.Second, "/readyz 503 naming the unconnected source", func() bool {
		code, body := get("/readyz")
		return code == 503 && strings.Contains(body, "source sensors not connected to tcp://"+addr)
	})
	ingesttest.StartBroker(t, addr)
	waitFor(t, 30*time.Second, "/readyz 200", func() bool { code, _ := get("/readyz"); return code == 200 })
	agent.stop(t)
}
