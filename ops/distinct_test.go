package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
	"pgregory.net/rapid"
)

// TestDistinctExact: below distinctExact values the count is exact, also
// across merged panes and for tag values.
func TestDistinctExact(t *testing.T) {
	pl := mustPlan(t, "distinct", "distinct(host)")
	rapid.Check(t, func(t *rapid.T) {
		span := rapid.SampledFrom([]int{1, 10, 1000, 1024, 1025, 1500}).Draw(t, "span")
		r := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 3))
		vals := make([]int, rapid.SampledFrom([]int{1, 100, 3000}).Draw(t, "n"))
		for i := range vals {
			vals[i] = r.IntN(span)
		}
		cut := rapid.IntRange(0, len(vals)).Draw(t, "cut")
		a, b := pl.NewGroup(nil), pl.NewGroup(nil)
		set := map[int]bool{}
		for i, v := range vals {
			set[v] = true
			g := a
			if i >= cut {
				g = b
			}
			pl.Add(g, fpoint("x", float64(v)/4, point.Tag{Key: "host", Value: fmt.Sprint("h", v)}), int64(i))
		}
		pl.Merge(a, b)
		got, _ := results(t, pl, a)
		want := int64(len(set))
		for _, k := range []string{"x_distinct", "host_distinct"} {
			g := got[k].(int64)
			if want <= distinctExact && g != want {
				t.Fatalf("%s = %d, want exactly %d", k, g, want)
			}
			if math.Abs(float64(g-want)) > 0.05*float64(want) {
				t.Fatalf("%s = %d, want %d ± 5%%", k, g, want)
			}
		}
	})
}

// TestDistinctHLL: beyond the exact set, the HyperLogLog estimate is
// within 5% (about 3 standard errors) at many cardinalities up to 100k,
// added to one group or merged from ten panes, and survives JSON.
func TestDistinctHLL(t *testing.T) {
	pl := mustPlan(t, "distinct", "distinct(id)")
	for _, n := range []int{1025, 2000, 5000, 10000, 20000, 50000, 100000} {
		one := pl.NewGroup(nil)
		merged := pl.NewGroup(nil)
		for pane := range 10 {
			g := pl.NewGroup(nil)
			for i := pane; i < n; i += 10 {
				p := fpoint("x", float64(i)*1.5, point.Tag{Key: "id", Value: fmt.Sprintf("sensor-%d", i)})
				pl.Add(g, p, int64(i))
				pl.Add(one, p, int64(i))
				pl.Add(one, p, int64(i)) // repeats change nothing
			}
			pl.Merge(merged, g)
		}
		js, _ := json.Marshal(merged)
		var back Group
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		for name, g := range map[string]*Group{"one": one, "merged": merged, "restored": &back} {
			got, _ := results(t, pl, g)
			for _, k := range []string{"x_distinct", "id_distinct"} {
				if e := float64(got[k].(int64)-int64(n)) / float64(n); math.Abs(e) > 0.05 {
					t.Errorf("n=%d %s %s = %d: error %.2f%%", n, name, k, got[k], 100*e)
				}
			}
		}
	}
}

func TestDistinctJSONInvalid(t *testing.T) {
	for _, js := range []string{`{"set":[2,1]}`, `{"hll":"AAAA"}`, `{"set":[1],"hll":"AA=="}`} {
		var d distinct
		if err := json.Unmarshal([]byte(js), &d); err == nil {
			t.Errorf("%s accepted", js)
		}
	}
}

// TestHashFixed pins the hashes: they must not change between processes
// or versions (checkpoints hold them).
func TestHashFixed(t *testing.T) {
	// FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
	if got, want := hashString("a"), mix64(0xaf63dc4c8601ec8c); got != want {
		t.Errorf("hashString(a) = %#x, want %#x", got, want)
	}
	if hashFloat(0) != hashFloat(math.Copysign(0, -1)) {
		t.Error("0 and -0 hash apart")
	}
}

// TestDistinctSwitch: the set is exact up to distinctExact values and a
// HyperLogLog from the next one.
func TestDistinctSwitch(t *testing.T) {
	var d distinct
	for i := range distinctExact {
		d.add(hashFloat(float64(i)))
		d.add(hashFloat(float64(i)))
	}
	if d.regs != nil || d.count() != distinctExact {
		t.Fatalf("after %d values: regs %v, count %d", distinctExact, d.regs != nil, d.count())
	}
	d.add(hashFloat(-1))
	if d.regs == nil || d.set != nil {
		t.Fatalf("after %d values: still exact", distinctExact+1)
	}
}
