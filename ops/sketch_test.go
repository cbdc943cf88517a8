package ops

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

var quantileNames = []string{"p1", "p5", "p25", "median", "p75", "p90", "p95", "p99", "p99.9"}
var quantileQs = []float64{0.01, 0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999}
var quantileKeys = []string{"x_p1", "x_p5", "x_p25", "x_median", "x_p75", "x_p90", "x_p95", "x_p99", "x_p99_9"}

// genData returns n values of a kind: uniform over both signs, sorted,
// constant, or Pareto (α = 1.1, heavy-tailed).
func genData(kind string, n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i := range v {
		switch kind {
		case "random":
			v[i] = (r.Float64()*2 - 1) * 1e4
		case "sorted":
			v[i] = float64(i)*0.37 + 1
		case "constant":
			v[i] = 42.5
		case "pareto":
			v[i] = 1 / math.Pow(1-r.Float64(), 1/1.1)
		}
	}
	return v
}

// checkQuantiles fails unless every percentile of g is within the
// sketch's bound of the true value of rank ⌊q·(n−1)⌋ of data.
func checkQuantiles(t tb, pl *Plan, g *Group, data []float64) {
	t.Helper()
	sorted := slices.Sorted(slices.Values(data))
	got, _ := results(t, pl, g)
	for i, q := range quantileQs {
		want := sorted[int(math.Floor(q*float64(len(sorted)-1)))]
		v, ok := got[quantileKeys[i]].(float64)
		if !ok || math.Abs(v-want) > sketchAccuracy*math.Abs(want)*(1+1e-9) {
			t.Fatalf("%s = %v, true %v: outside ±%v", quantileKeys[i], got[quantileKeys[i]], want, sketchAccuracy)
		}
	}
}

// TestSketchMerge: data of each kind split into panes at random
// boundaries and merged: every percentile within the bound of the truth.
func TestSketchMerge(t *testing.T) {
	pl := mustPlan(t, quantileNames...)
	rapid.Check(t, func(t *rapid.T) {
		kind := rapid.SampledFrom([]string{"random", "sorted", "constant", "pareto"}).Draw(t, "kind")
		n := rapid.SampledFrom([]int{1, 2, 3, 10, 100, 1000, 5000}).Draw(t, "n")
		data := genData(kind, n, rapid.Uint64().Draw(t, "seed"))
		cuts := rapid.SliceOfN(rapid.IntRange(0, n), 0, 30).Draw(t, "cuts")
		cuts = append(cuts, 0, n)
		slices.Sort(cuts)
		merged := pl.NewGroup(nil)
		for i := 1; i < len(cuts); i++ {
			pane := pl.NewGroup(nil)
			for j := cuts[i-1]; j < cuts[i]; j++ {
				pl.Add(pane, fpoint("x", data[j]), int64(j))
			}
			pl.Merge(merged, pane)
		}
		checkQuantiles(t, pl, merged, data)
	})
}

// TestSketchCollapse: values spanning 10^±300 overflow the 2048 bins; the
// lowest collapse, the high percentiles keep the bound, the encoded state
// stays bounded and a JSON round trip changes nothing.
func TestSketchCollapse(t *testing.T) {
	pl := mustPlan(t, "p99", "p50", "p1")
	a, b := pl.NewGroup(nil), pl.NewGroup(nil)
	var data []float64
	for e := -300; e <= 300; e++ {
		data = append(data, math.Pow(10, float64(e)))
	}
	for i, v := range data {
		pl.Add(a, fpoint("x", v), int64(i))
		pl.Add(b, fpoint("x", v), int64(i))
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) > 3*8*sketchMaxBins {
		t.Errorf("state of %d bytes in JSON: not bounded", len(js))
	}
	b = &Group{}
	if err := json.Unmarshal(js, b); err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{1e-305, 5, 1e305, 1e-310, -3} {
		pl.Add(a, fpoint("x", v), int64(1000+i))
		pl.Add(b, fpoint("x", v), int64(1000+i))
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("collapsed state differs after a JSON round trip")
	}
	got, _ := results(t, pl, a)
	// 606 values: p99 has rank ⌊0.99·605⌋ = 598, the 599th smallest.
	all := slices.Sorted(slices.Values(append(data, 1e-305, 5, 1e305, 1e-310, -3)))
	if want := all[598]; math.Abs(got["x_p99"].(float64)-want) > sketchAccuracy*want {
		t.Errorf("p99 = %v, want %v", got["x_p99"], want)
	}
	if got["x_p1"].(float64) > got["x_p50"].(float64) {
		t.Errorf("p1 %v > p50 %v", got["x_p1"], got["x_p50"])
	}
}
