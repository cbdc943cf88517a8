package main

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// metricValue returns the sample of name whose labels include want
// ("k=v" pairs), failing the test when there is none.
func metricValue(t *testing.T, ms []metric, name string, want ...string) float64 {
	t.Helper()
	for _, m := range ms {
		if m.name != name {
			continue
		}
		labels := map[string]string{}
		for _, l := range m.labels {
			labels[l.key] = l.value
		}
		ok := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			ok = ok && labels[k] == v
		}
		if ok {
			return m.value
		}
	}
	t.Fatalf("no sample %s %v", name, want)
	return 0
}

// TestSinkCapWiring checks that openSinks puts a sink's three lanes under
// one max_backlog with on_full, raw dropped first, and that the drops and
// the expired counter reach /metrics.
func TestSinkCapWiring(t *testing.T) {
	dir := t.TempDir()
	extra := `  - name: cloud
    type: file
    path: ` + dir + `/cloud.lp
    max_backlog: 4KiB
    on_full: drop_oldest
    ttl: {alerts: 0, results: 720h, raw: 1d}
`
	cfg, err := config.Load(siteConfig(t, dir, "tcp://127.0.0.1:1", "", extra))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAgent(cfg, ingesttest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	raw, results := a.outboxes["cloud"+engine.RawLane], a.outboxes["cloud"]
	alerts := a.outboxes["cloud"+engine.AlertLane]
	// 100-byte lines, one per entry: 4 KiB holds about 35 entries.
	line := func(i int) []byte { return []byte(fmt.Sprintf("m v=%di %091d\n", i%10, i)) }
	for i := 1; i <= 20; i++ {
		if err := raw.Append(uint64(i), line(i), false); err != nil {
			t.Fatal(err)
		}
		if err := alerts.Append(uint64(i), line(i), false); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 10; i++ {
		if err := results.Append(uint64(i), line(i), false); err != nil {
			t.Fatal(err)
		}
	}
	if raw.Dropped() == 0 {
		t.Fatal("nothing dropped from the raw lane at the cap")
	}
	if alerts.Dropped() != 0 || results.Dropped() != 0 {
		t.Errorf("dropped alerts %d results %d while raw had entries", alerts.Dropped(), results.Dropped())
	}
	// The local sink has the defaults: no drops.
	s := a.collect()
	if got := metricValue(t, s.metrics, "rivulet_sink_dropped_points_total", "sink=cloud", "reason=full"); got != float64(raw.Dropped()) {
		t.Errorf("dropped metric %v, want %d", got, raw.Dropped())
	}
	if got := metricValue(t, s.metrics, "rivulet_sink_dropped_points_total", "sink=local", "reason=full"); got != 0 {
		t.Errorf("local dropped %v", got)
	}
	if got := metricValue(t, s.metrics, "rivulet_sink_expired_points_total", "sink=cloud"); got != 0 {
		t.Errorf("expired %v before any delivery", got)
	}
	if c := cfg.Sinks[1]; c.OnFull != "drop_oldest" || c.MaxBacklog != 4<<10 || c.TTL.Raw.String() != "1d" || c.TTL.Results.String() != "30d" {
		t.Errorf("decoded %+v", c)
	}
}

// TestOverallOutboxCap: outbox.max_size spans the sinks: with block, an
// append to one sink's outbox is refused once all sinks together hold the
// cap, although that sink is far below its own max_backlog.
func TestOverallOutboxCap(t *testing.T) {
	dir := t.TempDir()
	extra := `  - name: cloud
    type: file
    path: ` + dir + `/cloud.lp
outbox: {max_size: 1MiB, on_full: block}
`
	cfg, err := config.Load(siteConfig(t, dir, "tcp://127.0.0.1:1", "", extra))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAgent(cfg, ingesttest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	line := []byte(fmt.Sprintf("m v=1i %09000d\n", 1)) // ~9 KB per entry
	var i uint64
	for i = 1; i <= 200; i++ {
		box := a.outboxes["cloud"]
		if i%2 == 0 {
			box = a.outboxes["local"]
		}
		if err := box.Append(i, line, false); err != nil {
			if !strings.Contains(err.Error(), "full") {
				t.Fatalf("append %d: %v, want the outbox-full error", i, err)
			}
			break
		}
	}
	if i > 200 || i < 100 {
		t.Fatalf("refused at append %d; want about 1MiB / 9KB ≈ 115 appends across both sinks", i)
	}
}
