package ops

import (
	"bytes"
	"math/rand/v2"
	"testing"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// TestTightStoreMatchesLibrary feeds the same bins to a tightStore and to
// sketches-go's CollapsingLowestDenseStore (the reference) and compares
// what a sketch reads from them: counts, index range, the key at every
// rank, the encoding, merges and copies. Ranges include ones wider than
// maxBins, so that both collapse.
func TestTightStoreMatchesLibrary(t *testing.T) {
	const maxBins = 64
	cases := []struct {
		name   string
		lo, hi int // indexes drawn from [lo, hi]
		n      int
	}{
		{"one bin", 5, 5, 10},
		{"narrow", -3, 12, 200},
		{"at the limit", 0, maxBins - 1, 500},
		{"collapsing", -200, 300, 500},
		{"far apart", -100000, 100000, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, 7))
				ref, got := store.NewCollapsingLowestDenseStore(maxBins), newTightStore(maxBins)
				refB, gotB := store.NewCollapsingLowestDenseStore(maxBins), newTightStore(maxBins)
				for i := range c.n {
					idx := c.lo + r.IntN(c.hi-c.lo+1)
					w := float64(1 + r.IntN(3))
					if i%3 == 2 {
						refB.AddWithCount(idx, w)
						gotB.AddWithCount(idx, w)
					} else {
						ref.AddWithCount(idx, w)
						got.AddWithCount(idx, w)
					}
					if i%17 == 0 {
						compareStores(t, ref, got)
					}
				}
				compareStores(t, ref, got)
				compareStores(t, refB, gotB)
				ref.MergeWith(refB)
				got.MergeWith(gotB)
				compareStores(t, ref, got)
				compareStores(t, ref, got.Copy())
				// Decoding the encoding gives the same store.
				var b []byte
				got.Encode(&b, enc.FlagTypePositiveStore)
				flag, err := enc.DecodeFlag(&b)
				if err != nil {
					t.Fatal(err)
				}
				back := newTightStore(maxBins)
				if err := back.DecodeAndMergeWith(&b, flag.SubFlag()); err != nil {
					t.Fatal(err)
				}
				compareStores(t, ref, back)
			}
		})
	}
}

func compareStores(t *testing.T, ref store.Store, got store.Store) {
	t.Helper()
	if ref.TotalCount() != got.TotalCount() || ref.IsEmpty() != got.IsEmpty() {
		t.Fatalf("count %v, want %v", got.TotalCount(), ref.TotalCount())
	}
	if ref.IsEmpty() {
		return
	}
	rmin, _ := ref.MinIndex()
	rmax, _ := ref.MaxIndex()
	gmin, _ := got.MinIndex()
	gmax, _ := got.MaxIndex()
	if rmin != gmin || rmax != gmax {
		t.Fatalf("indexes [%d, %d], want [%d, %d]", gmin, gmax, rmin, rmax)
	}
	for rank := -1.0; rank <= ref.TotalCount(); rank += 0.5 {
		if r, g := ref.KeyAtRank(rank), got.KeyAtRank(rank); r != g {
			t.Fatalf("key at rank %v: %d, want %d", rank, g, r)
		}
	}
	var rb, gb []byte
	ref.Encode(&rb, enc.FlagTypeNegativeStore)
	got.Encode(&gb, enc.FlagTypeNegativeStore)
	if !bytes.Equal(rb, gb) {
		t.Fatalf("encoding %x, want %x", gb, rb)
	}
	type bin struct {
		i int
		c float64
	}
	var rbins, gbins []bin
	ref.ForEach(func(i int, c float64) bool { rbins = append(rbins, bin{i, c}); return false })
	got.ForEach(func(i int, c float64) bool { gbins = append(gbins, bin{i, c}); return false })
	if len(rbins) != len(gbins) {
		t.Fatalf("%d bins, want %d", len(gbins), len(rbins))
	}
	for i := range rbins {
		if rbins[i] != gbins[i] {
			t.Fatalf("bin %d: %v, want %v", i, gbins[i], rbins[i])
		}
	}
}
