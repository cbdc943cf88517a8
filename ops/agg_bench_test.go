package ops

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

// benchPoints returns n points with one float field "temp" and a host tag
// of one of hosts values.
func benchPoints(n, hosts int) []*point.Point {
	ps := make([]*point.Point, n)
	for i := range ps {
		ps[i] = fpoint("temp", 20+float64(i%977)*0.01, point.Tag{Key: "host", Value: fmt.Sprintf("host-%d", i%hosts)})
	}
	return ps
}

var benchPlans = []struct {
	name  string
	aggs  []string
	hosts int
}{
	{"basic4", []string{"count", "mean", "min", "max"}, 1},
	{"p95", []string{"count", "mean", "min", "max", "p95"}, 1},
	{"distinct", []string{"count", "mean", "min", "max", "distinct"}, 1},
	{"stddev+integral+rate", []string{"count", "mean", "stddev", "integral", "rate"}, 1},
	{"topk3/10hosts", []string{"count", "topk(3,host)"}, 10},
	{"topk3/100hosts", []string{"count", "topk(3,host)"}, 100}, // Space-Saving churn
}

// BenchmarkAdd folds one point (one field) per op into a Group in steady
// state.
func BenchmarkAdd(b *testing.B) {
	for _, bp := range benchPlans {
		b.Run(bp.name, func(b *testing.B) {
			pl := mustPlan(b, bp.aggs...)
			ps := benchPoints(4096, bp.hosts)
			g := pl.NewGroup(nil)
			for i, p := range ps { // warm up: fields, sketch range, sets
				pl.Add(g, p, int64(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pl.Add(g, ps[i&4095], int64(i))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/point")
		})
	}
}

// BenchmarkMerge30 merges 30 panes of 100 points each into a new Group,
// as a window of 30 panes is built.
func BenchmarkMerge30(b *testing.B) {
	for _, bp := range benchPlans {
		b.Run(bp.name, func(b *testing.B) {
			pl := mustPlan(b, bp.aggs...)
			ps := benchPoints(3000, bp.hosts)
			panes := make([]*Group, 30)
			for i := range panes {
				panes[i] = pl.NewGroup(nil)
				for j := i * 100; j < (i+1)*100; j++ {
					pl.Add(panes[i], ps[j], int64(j))
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := pl.Clone(panes[0])
				for _, p := range panes[1:] {
					pl.Merge(w, p)
				}
			}
		})
	}
}

// legacyGroup is the engine's group before Plan: a map of States.
type legacyGroup struct {
	Tags   []point.Tag
	Fields map[string]*State
}

// BenchmarkGroupBytes measures the heap bytes of a Group holding one field
// after one point, for count, mean, min, max (and others), against the
// engine's map of States.
func BenchmarkGroupBytes(b *testing.B) {
	const n = 20000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "temp" // a fresh copy is made per group either way
	}
	measure := func(b *testing.B, mk func(i int) any) {
		keep := make([]any, n)
		var m0, m1 runtime.MemStats
		for i := 0; i < b.N; i++ {
			runtime.GC()
			runtime.ReadMemStats(&m0)
			for j := range keep {
				keep[j] = mk(j)
			}
			runtime.ReadMemStats(&m1)
			clear(keep)
		}
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/n, "bytes/group")
	}
	p := fpoint("temp", 21.5)
	for _, bp := range benchPlans[:4] {
		b.Run(bp.name, func(b *testing.B) {
			pl := mustPlan(b, bp.aggs...)
			measure(b, func(int) any {
				g := pl.NewGroup(nil)
				pl.Add(g, p, 1)
				return g
			})
		})
	}
	b.Run("legacy-map-of-State", func(b *testing.B) {
		measure(b, func(i int) any {
			g := &legacyGroup{Fields: map[string]*State{}}
			s := &State{}
			g.Fields[string([]byte(keys[i]))] = s
			s.Add(21.5, 1)
			return g
		})
	})
}
