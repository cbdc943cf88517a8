package ops

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
	"pgregory.net/rapid"
)

// TestTopKExact: with at most 8·k distinct values the counts are exact,
// in one group and merged from panes.
func TestTopKExact(t *testing.T) {
	pl := mustPlan(t, "topk(3,host)")
	rapid.Check(t, func(t *rapid.T) {
		hosts := rapid.SliceOfN(rapid.SampledFrom(hostNames(24)), 1, 500).Draw(t, "hosts")
		one := pl.NewGroup(nil)
		merged := pl.NewGroup(nil)
		pane := pl.NewGroup(nil)
		for i, h := range hosts {
			p := fpoint("x", 1, point.Tag{Key: "host", Value: h})
			pl.Add(one, p, int64(i))
			pl.Add(pane, p, int64(i))
			if rapid.IntRange(0, 20).Draw(t, "cut") == 0 {
				pl.Merge(merged, pane)
				pane = pl.NewGroup(nil)
			}
		}
		pl.Merge(merged, pane)
		want := map[string]any{}
		refTop("host", hosts, 3, want)
		delete(want, "host_distinct")
		for _, g := range []*Group{one, merged} {
			got, _ := results(t, pl, g)
			for k, w := range want {
				if got[k] != w {
					t.Fatalf("%s = %v, want %v", k, got[k], w)
				}
			}
		}
	})
}

func hostNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("host-%02d", i)
	}
	return s
}

// TestTopKZipf: far more distinct values than the summary keeps (Zipf over
// 10k values): the true top values are found, whether added to one group,
// merged from panes or restored from JSON midway.
func TestTopKZipf(t *testing.T) {
	pl := mustPlan(t, "topk(3,v)")
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 2))
		z := rand.NewZipf(r, 1.3, 1, 9999)
		one, merged, pane := pl.NewGroup(nil), pl.NewGroup(nil), pl.NewGroup(nil)
		var vals []string
		for i := range 50000 {
			v := fmt.Sprintf("v%d", (z.Uint64()*7919)%10000) // scatter the ranks over the value order
			vals = append(vals, v)
			p := fpoint("x", 1, point.Tag{Key: "v", Value: v})
			pl.Add(one, p, int64(i))
			pl.Add(pane, p, int64(i))
			if i%5000 == 4999 {
				pl.Merge(merged, pane)
				pane = pl.NewGroup(nil)
			}
			if i == 25000 {
				js, _ := json.Marshal(one)
				one = &Group{}
				if err := json.Unmarshal(js, one); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := map[string]any{}
		refTop("v", vals, 3, want)
		for name, g := range map[string]*Group{"one": one, "merged": merged} {
			got, _ := results(t, pl, g)
			for _, k := range []string{"v_top1", "v_top2", "v_top3"} {
				if got[k] != want[k] {
					t.Errorf("seed %d %s: %s = %v, want %v", seed, name, k, got[k], want[k])
				}
			}
			// Space-Saving never undercounts.
			if c := got["v_top1_count"].(int64); c < want["v_top1_count"].(int64) {
				t.Errorf("seed %d %s: top1 count %d < true %d", seed, name, c, want["v_top1_count"])
			}
		}
	}
}

// TestTopKReplace: a full summary replaces the least counted value, the
// smallest on ties, keeping its entries in value order.
func TestTopKReplace(t *testing.T) {
	var tk topK
	for _, v := range []string{"b", "d", "d", "c", "a"} {
		tk.add(v, 3)
	}
	// Full with b:1 c:1 d:2; "a" replaced b (least, smallest) with 1+1.
	var got []string
	for _, e := range tk.e {
		got = append(got, fmt.Sprintf("%s:%d", e.val, e.n))
	}
	if want := "[a:2 c:1 d:2]"; fmt.Sprint(got) != want {
		t.Errorf("entries %v, want %s", got, want)
	}
	tk.add("e", 3) // replaces c (count 1) → e:2 at the end
	tk.add("0", 3) // replaces a (2, smaller than d and e) → 0:3 first
	got = got[:0]
	for _, e := range tk.e {
		got = append(got, fmt.Sprintf("%s:%d", e.val, e.n))
	}
	if want := "[0:3 d:2 e:2]"; fmt.Sprint(got) != want {
		t.Errorf("entries %v, want %s", got, want)
	}
}

// TestTopKMergeFull: merging two full summaries adds, for a value missing
// from one, that summary's least count, then keeps the highest counts.
func TestTopKMergeFull(t *testing.T) {
	var a, b topK
	for _, v := range []string{"a", "a", "a", "a", "a", "b", "b", "b"} {
		a.add(v, 2)
	}
	for _, v := range []string{"c", "c", "c", "c", "d"} {
		b.add(v, 2)
	}
	a.merge(&b, 2) // a:5+1 b:3+1 c:4+3 d:1+3 → c:7 a:6
	var got []string
	a.top(2, func(v []byte, n int64) { got = append(got, fmt.Sprintf("%s:%d", v, n)) })
	if want := "[c:7 a:6]"; fmt.Sprint(got) != want {
		t.Errorf("top %v, want %s", got, want)
	}
	if len(b.e) != 2 || string(b.e[0].val) != "c" || b.e[0].n != 4 {
		t.Errorf("src changed: %v", b.e)
	}
}
