package ops

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

// jsonStrings are strings encoding/json escapes in every way it can.
var jsonStrings = []string{"", "zone", "a\"b\\c", "<tag>&amp;", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
	"\u2028\u2029", "héllo wörld ✓", "bad\xffutf8\xc3", "\xe2\x80", "emoji 😀", "\u00e9\u0301"}

// jsonFloats are floats of every form jfloat writes.
var jsonFloats = []float64{0, math.Copysign(0, -1), 1, -2.5, 21.54, 1e21, 1e20, 1e-7, 1e-6, 123456789.125,
	math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 1.0 / 3}

// randGroup returns a group of random tags, fields and states, with or
// without Extra and sketch.
func randGroup(r *rand.Rand) *Group {
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	fl := func() float64 { return jsonFloats[r.IntN(len(jsonFloats))] }
	g := &Group{}
	for range r.IntN(4) {
		g.Tags = append(g.Tags, point.Tag{Key: pick(jsonStrings), Value: pick(jsonStrings)})
	}
	for range r.IntN(4) {
		f := FieldState{Key: pick(jsonStrings), State: State{N: r.Int64N(1 << 40), Sum: fl(), Min: fl(), Max: fl(),
			First: fl(), FirstTime: r.Int64() - r.Int64(), Last: fl(), LastTime: r.Int64()}}
		if r.IntN(3) > 0 {
			f.Extra = &Extra{n: r.Int64N(100), mean: fl(), m2: fl(), area: fl()}
			if r.IntN(2) == 0 {
				f.Extra.sketch = newSketch()
				for range r.IntN(50) {
					f.Extra.sketch.add(sketchValue(r, "mixed"))
				}
			}
		}
		g.Fields = append(g.Fields, f)
	}
	return g
}

// TestAppendJSONMatchesMarshal: AppendJSON writes what json.Marshal
// writes, for random groups, after any prefix, and for the groups it hands
// to json.Marshal (tag aggregates, distinct counts).
func TestAppendJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pl := mustPlan(t, "count", "distinct", "topk(2,host)")
	withDistinct := pl.NewGroup([]point.Tag{{Key: "a", Value: "<b>"}})
	pl.Add(withDistinct, fpoint("x", 1, point.Tag{Key: "host", Value: "h1"}), 1)
	groups := []*Group{{}, withDistinct}
	for range 2000 {
		groups = append(groups, randGroup(r))
	}
	for i, g := range groups {
		want, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte("prefix")
		got, err := g.AppendJSON(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("group %d: AppendJSON\n%q\njson.Marshal\n%q", i, got, want)
		}
	}
}

// TestAppendJSONAllocs: a group with a percentile sketch written into a
// buffer with room allocates nothing.
func TestAppendJSONAllocs(t *testing.T) {
	pl := mustPlan(t, "count", "mean", "p95")
	g := pl.NewGroup([]point.Tag{{Key: "device", Value: "d1"}})
	for i, v := range []float64{21.5, 22, -3, 0} {
		pl.Add(g, fpoint("value", v), int64(i))
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = g.AppendJSON(buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.0f allocations, want none", allocs)
	}
}
