package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// benchBatchPoints is the number of points in one benchmarked log entry.
const benchBatchPoints = 1000

func benchStep() StepConfig {
	return StepConfig{Name: "t1m", Measurement: "temperature",
		Window:     window.Config{Type: "tumbling", Size: time.Minute, MaxDelay: 5 * time.Second, IdleTimeout: 30 * time.Second},
		GroupBy:    []string{"device", "zone"},
		Aggregates: []string{"count", "mean", "min", "max"},
		To:         []string{"out"}}
}

// benchStart is the start of the minute window all benchmark points fall in.
var benchStart = window.NewTumbling(time.Minute).Start(base)

// benchLines returns n points over the given number of series, starting with
// series first, all in the first 40 s of the window at benchStart, so that
// the watermark (5 s behind) never closes it.
func benchLines(first, n, series int) []byte {
	var b strings.Builder
	for i := range n {
		s := (first + i) % series
		fmt.Fprintf(&b, "temperature,device=d%05d,zone=z%d value=%d.5,humidity=4%d.25 %d\n",
			s, s%7, 20+i%5, i%10, benchStart+int64(i%40)*sec)
	}
	return []byte(b.String())
}

// BenchmarkApply measures Engine.Apply of one batch entry in steady state:
// every series already has its window open, and no window closes.
func BenchmarkApply(b *testing.B) {
	for _, series := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("series=%d/points=%d", series, benchBatchPoints), func(b *testing.B) {
			e, err := New(Config{Site: "s1", Steps: []StepConfig{benchStep()}, Checkpoint: DefaultCheckpoint()},
				&memLog{}, map[string]Outbox{"out": &memOutbox{}}, &memCkpt{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			nent := max(1, series/benchBatchPoints)
			ents := make([]wal.Entry, nent)
			for i := range ents {
				ents[i] = wal.Entry{Kind: wal.KindBatch, IngestTime: benchStart + sec,
					Points: benchLines(i*benchBatchPoints, benchBatchPoints, series)}
			}
			for i := range ents { // open every window
				e.Apply(uint64(i+1), &ents[i])
			}
			if _, st := e.steps[0].len(); st != series {
				b.Fatalf("%d series open, want %d", st, series)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(ents[0].Points)))
			b.ResetTimer()
			i := 0
			for b.Loop() {
				e.Apply(uint64(nent+i+1), &ents[i%nent])
				i++
			}
			b.ReportMetric(float64(b.N)*benchBatchPoints/b.Elapsed().Seconds(), "points/s")
			if st := e.Stats(); st.Results.Load() != 0 || st.Late.Load() != 0 {
				b.Fatalf("steady state broken: %d results, %d late", st.Results.Load(), st.Late.Load())
			}
		})
	}
}

// BenchmarkFire measures a step firing one window of N groups and encoding
// the results, as Engine.Apply does when the watermark passes the window.
func BenchmarkFire(b *testing.B) {
	for _, series := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			lines := benchLines(0, series, series)
			var enc point.Encoder
			var out []byte
			emit := func(p *point.Point) {
				var err error
				if out, err = enc.Append(out, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				op, err := newGridOp(benchStep().normalized(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := point.Parse(lines, func(p *point.Point) error { op.Add(p, p.Time, benchStart+sec, nil); return nil }); err != nil {
					b.Fatal(err)
				}
				out = out[:0]
				b.StartTimer()
				op.Advance(benchStart+time.Hour.Nanoseconds(), emit)
			}
			if n := strings.Count(string(out), "\n"); n != series {
				b.Fatalf("%d results, want %d", n, series)
			}
			b.ReportMetric(float64(b.N)*float64(series)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
