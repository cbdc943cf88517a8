package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
	"github.com/rivulet-edge/rivulet/wal"
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
	// 100-byte lines, one per entry: 4 KiB holds about 35 entries. Their
	// digits are random, so compression (wal.compression: s2) leaves their
	// size as it is.
	line := func(i int) []byte { return []byte(fmt.Sprintf("m v=%di %s\n", i%10, randomDigits(i, 91))) }
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
	line := []byte(fmt.Sprintf("m v=1i %s\n", randomDigits(1, 9000))) // ~9 KB per entry, incompressible
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

// TestOutboxCompression checks that the outboxes follow wal.compression:
// with none their records hold plain line protocol, with s2 (the default)
// compressed points, and an outbox written under one setting is read
// under the other, entry for entry.
func TestOutboxCompression(t *testing.T) {
	dir := t.TempDir()
	path := siteConfig(t, dir, "tcp://127.0.0.1:1", "", "")
	plain := strings.Replace(readFile(t, path), "max_size: 64MiB}", "max_size: 64MiB, compression: none}", 1)
	compressed := readFile(t, path)
	// Results of a window close: many similar lines.
	var lines []byte
	for i := range 500 {
		lines = fmt.Appendf(lines, "temperature_1s,sensor=d%03d,site=test,zone=z1 count=10i,mean=21.%d 1700000000000000000\n", i, i%10)
	}
	appendOne := func(cfgText string, idx uint64) {
		t.Helper()
		writeConfig(t, path, cfgText)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := openAgent(cfg, ingesttest.Logger(t), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer a.close()
		if err := a.outboxes["local"].Append(idx, lines, true); err != nil {
			t.Fatal(err)
		}
	}
	appendOne(plain, 1)
	appendOne(compressed, 2)
	appendOne(plain, 3)

	v, err := wal.OpenOutboxView(filepath.Join(dir, "data", dirOutbox, "local"))
	if err != nil {
		t.Fatal(err)
	}
	if v.LastIndex() != 3 {
		t.Fatalf("outbox holds %d entries, want 3", v.LastIndex())
	}
	var e wal.Entry
	for seq, want := range map[uint64]bool{1: false, 2: true, 3: false} {
		if err := v.Read(seq, &e); err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
		if !bytes.Equal(e.Points, lines) || e.IngestTime != int64(seq) {
			t.Errorf("entry %d reads back as ingest index %d and %d bytes of points", seq, e.IngestTime, len(e.Points))
		}
		if got := v.Compressed(seq); got != want {
			t.Errorf("entry %d compressed %v, want %v", seq, got, want)
		}
	}
	if plainLen, s2Len := v.RecordLen(1), v.RecordLen(2); s2Len*3 > plainLen {
		t.Errorf("compressed record %d bytes, plain %d: less than 3× smaller", s2Len, plainLen)
	} else {
		t.Logf("%d bytes of results: record of %d bytes plain, %d compressed", len(lines), plainLen, s2Len)
	}
}

// randomDigits returns n pseudo-random decimal digits from seed: text that
// S2, which only finds repeats, does not compress.
func randomDigits(seed, n int) string {
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}
