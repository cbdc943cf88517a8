package series

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
)

// benchConfig is a Config of op tuned so that every Add emits.
func benchConfig(op string) Config {
	c := DefaultConfig()
	c.Op = op
	c.TTL = 0
	if op == "state_duration" {
		c.Fields = []string{"value"}
	}
	return c
}

// benchPoints returns one point per series, each with a field value and
// the tags host and region.
func benchPoints(n int) []point.Point {
	ps := make([]point.Point, n)
	for i := range ps {
		ps[i] = point.Point{Measurement: "cpu", Tags: []point.Tag{
			{Key: "host", Value: fmt.Sprintf("h%06d", i)},
			{Key: "region", Value: "eu-west"},
		}}
		ps[i].AddField("value", lineprotocol.MustNewValue(float64(i)))
	}
	return ps
}

func TestAddDoesNotAllocate(t *testing.T) {
	for _, op := range opNames {
		t.Run(op, func(t *testing.T) {
			o, _ := New("r", benchConfig(op))
			ps := benchPoints(16)
			emit := func(*point.Point) {}
			for i := range ps {
				o.Add(&ps[i], 1, 1, emit)
			}
			k := int64(1)
			allocs := testing.AllocsPerRun(100, func() {
				k++
				p := &ps[k%int64(len(ps))]
				p.Fields[0].Value = lineprotocol.MustNewValue(float64(k % 3))
				o.Add(p, k*sec, k*sec, emit)
				o.Advance(k*sec, emit)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per Add of a known series, want 0", allocs)
			}
		})
	}
}

// BenchmarkAdd measures Add on 1000 known series, one numeric field each.
func BenchmarkAdd(b *testing.B) {
	for _, op := range opNames {
		b.Run(op, func(b *testing.B) {
			o, _ := New("r", benchConfig(op))
			ps := benchPoints(1000)
			emitted := 0
			emit := func(*point.Point) { emitted++ }
			for i := range ps {
				o.Add(&ps[i], 1, 1, emit)
			}
			vals := [2]lineprotocol.Value{lineprotocol.MustNewValue(1.0), lineprotocol.MustNewValue(2.0)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := &ps[i%len(ps)]
				p.Fields[0].Value = vals[(i/len(ps))%2]
				ts := int64(2 + i/len(ps))
				o.Add(p, ts*sec, ts*sec, emit)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkAdvanceIdle measures Advance over 100000 series when nothing
// is due.
func BenchmarkAdvanceIdle(b *testing.B) {
	c := benchConfig("no_data")
	c.TTL = time.Hour
	o, _ := New("r", c)
	ps := benchPoints(100000)
	emit := func(*point.Point) {}
	for i := range ps {
		o.Add(&ps[i], 1, 1, emit)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.Advance(2*sec+int64(i%1000), emit)
	}
}

// BenchmarkMemory measures the heap held per series: 100000 series of
// "cpu,host=hNNNNNN,region=eu-west value=…", one field.
func BenchmarkMemory(b *testing.B) {
	for _, op := range []string{"rate", "ewma", "state_duration", "moving_average", "no_data"} {
		b.Run(op, func(b *testing.B) {
			const n = 100000
			ps := benchPoints(n)
			emit := func(*point.Point) {}
			var perSeries float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				o, _ := New("r", benchConfig(op))
				for j := range ps {
					o.Add(&ps[j], 1, 1, emit)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSeries = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(o)
			}
			b.ReportMetric(perSeries, "bytes/series")
		})
	}
}
