package engine

import (
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// harnessSteps are the steps scripts/bench configures: a 1-minute tumbling
// window with count, mean, min, max and p95 per series and a threshold rule
// on the raw points.
func harnessSteps() []StepConfig {
	th := detect.DefaultThreshold()
	th.Field, th.Warn, th.Crit, th.Hysteresis = "value", 30, 35, 1
	dc := detect.DefaultConfig()
	dc.Threshold, dc.MaxSeries = &th, 200000
	return []StepConfig{
		{Name: "temp_1m", Measurement: "temperature",
			Window:     window.Config{Type: "tumbling", Size: time.Minute, MaxDelay: 5 * time.Second, IdleTimeout: 30 * time.Second},
			GroupBy:    []string{"zone", "device", "sensor"},
			Aggregates: []string{"count", "mean", "min", "max", "p95"}, MaxSeries: 200000, To: []string{"out"}},
		{Name: "too_hot", Measurement: "temperature", Detect: &dc, To: []string{"out"}},
	}
}

// harnessLines appends one point per series at ts, as the harness's value
// payloads decode: zone and device tags, one field.
func harnessLines(b []byte, series int, ts int64, round int) []byte {
	for i := range series {
		b = append(b, "temperature,device=d"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ",zone=z"...)
		b = strconv.AppendInt(b, int64(i%10), 10)
		// Readings as the harness makes them: a slow sine per device plus
		// noise, two decimals, stamped at ingest (spread over the second).
		v := 21 + 4*math.Sin(float64(ts)/60e9+float64(i*7)*0.37) + float64((uint64(round*series+i)*2654435761)%200)/1000 - 0.1
		b = append(b, " value="...)
		b = strconv.AppendFloat(b, v, 'f', 2, 64)
		b = append(b, ' ')
		b = strconv.AppendInt(b, ts+int64(i)*int64(time.Second)/int64(series), 10)
		b = append(b, '\n')
	}
	return b
}

// feedHarness applies 10 seconds of harness traffic (one entry a second,
// one point per series), flushes, and returns the last index applied.
func feedHarness(t testing.TB, e *Engine, series int) uint64 {
	t.Helper()
	start := window.NewTumbling(time.Minute).Start(base)
	var buf []byte
	for r := range 10 {
		ts := start + int64(r+1)*sec
		buf = harnessLines(buf[:0], series, ts, r)
		e.Apply(uint64(r+1), &wal.Entry{Kind: wal.KindBatch, IngestTime: ts, Points: buf})
	}
	if err := e.flush(); err != nil {
		t.Fatal(err)
	}
	return 10
}

// TestFootprint10k reports the live heap and checkpoint size of the
// harness pipeline at 10k series (RIVULET_FOOTPRINT=1; with
// RIVULET_HEAPPROFILE=path it also writes a heap profile).
func TestFootprint10k(t *testing.T) {
	if os.Getenv("RIVULET_FOOTPRINT") == "" {
		t.Skip("set RIVULET_FOOTPRINT=1")
	}
	const series = 10000
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	ck := &memCkpt{}
	e, err := New(Config{Site: "s1", Steps: harnessSteps(), Checkpoint: DefaultCheckpoint()},
		&memLog{}, map[string]Outbox{"out": &discardOutbox{}}, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := feedHarness(t, e, series)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	live := m1.HeapAlloc - m0.HeapAlloc
	t0 := time.Now()
	data, err := e.snapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	runtime.ReadMemStats(&m2)
	t.Logf("live heap %d B (%.0f B/series); snapshot %d B (%.0f B/series) in %v, allocated %d B while encoding (%.1f× its size), %d allocs",
		live, float64(live)/series, len(data), float64(len(data))/series, took,
		m2.TotalAlloc-m1.TotalAlloc, float64(m2.TotalAlloc-m1.TotalAlloc)/float64(len(data)), m2.Mallocs-m1.Mallocs)
	if p := os.Getenv("RIVULET_SNAPSHOT"); p != "" {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if p := os.Getenv("RIVULET_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if p := os.Getenv("RIVULET_PLAIN"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.writeState(f, idx); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	runtime.KeepAlive(e)
}
