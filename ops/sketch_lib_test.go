package ops

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/pb/sketchpb"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// The rest of sketches-go's store.Store, so that the tests can run the
// library's DDSketch over tightStores and compare. Only tests use it: the
// agent does not link the library.

var _ store.Store = (*tightStore)(nil)

// libMapping is the library's mapping of sketchMapping's accuracy.
var libMapping = func() *mapping.LogarithmicMapping {
	m, err := mapping.NewLogarithmicMapping(sketchAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

func (s *tightStore) AddBin(b store.Bin) { s.AddWithCount(b.Index(), b.Count()) }

func (s *tightStore) Bins() <-chan store.Bin {
	ch := make(chan store.Bin)
	go func() {
		defer close(ch)
		s.ForEach(func(index int, count float64) bool {
			if b, err := store.NewBin(index, count); err == nil {
				ch <- *b
			}
			return false
		})
	}()
	return ch
}

func (s *tightStore) Copy() store.Store { return s.clone() }

func (s *tightStore) Clear() { s.bins, s.count, s.lo, s.collapsed = s.bins[:0], 0, 0, false }

var errEmptyStore = errors.New("empty sketch store has no index")

func (s *tightStore) MaxIndex() (int, error) {
	if s.IsEmpty() {
		return 0, errEmptyStore
	}
	return s.max(), nil
}

func (s *tightStore) MinIndex() (int, error) {
	if s.IsEmpty() {
		return 0, errEmptyStore
	}
	return s.min(), nil
}

func (s *tightStore) TotalCount() float64 { return s.count }

func (s *tightStore) MergeWith(o store.Store) {
	o.ForEach(func(index int, count float64) bool {
		s.AddWithCount(index, count)
		return false
	})
}

func (s *tightStore) dense() *store.DenseStore {
	d := store.NewDenseStore()
	s.ForEach(func(index int, count float64) bool {
		d.AddWithCount(index, count)
		return false
	})
	return d
}

func (s *tightStore) ToProto() *sketchpb.Store { return s.dense().ToProto() }

func (s *tightStore) EncodeProto(b *sketchpb.StoreBuilder) { s.dense().EncodeProto(b) }

func (s *tightStore) Reweight(w float64) error {
	if w <= 0 {
		return errors.New("can't reweight by a negative factor")
	}
	s.count *= w
	for i := range s.bins {
		s.bins[i] *= w
	}
	return nil
}

// Encode is encode under the library's flag type.
func (s *tightStore) Encode(b *[]byte, t enc.FlagType) {
	flag := []byte{}
	enc.EncodeFlag(&flag, enc.NewFlag(t, enc.BinEncodingIndexDeltasAndCounts))
	*b = s.encode(*b, flag[0]&0b11)
}

// DecodeAndMergeWith is the library's store decoding into s: what
// decodeSketch did before it had a decoder of its own, the reference.
func (s *tightStore) DecodeAndMergeWith(b *[]byte, mode enc.SubFlag) error {
	return store.DecodeAndMergeWith(s, b, mode)
}

// TestMappingMatchesLibrary: sketchMapping indexes values and maps
// indexes back exactly as the library's logarithmic mapping.
func TestMappingMatchesLibrary(t *testing.T) {
	m := &sketchMapping
	if m.minIndexable != libMapping.MinIndexableValue() || m.maxIndexable != libMapping.MaxIndexableValue() {
		t.Fatalf("indexable range [%g, %g], library's [%g, %g]", m.minIndexable, m.maxIndexable,
			libMapping.MinIndexableValue(), libMapping.MaxIndexableValue())
	}
	if m.relAccuracy != libMapping.RelativeAccuracy() {
		t.Fatalf("relative accuracy %v, library's %v", m.relAccuracy, libMapping.RelativeAccuracy())
	}
	r := rand.New(rand.NewPCG(1, 2))
	values := []float64{m.minIndexable, m.maxIndexable, 1, 1 - 1e-16, 1 + 1e-15, 0.5, 2, 1e-300, 1e300}
	for range 200000 {
		values = append(values, math.Exp(r.Float64()*1400-700), float64(r.IntN(1000)), r.Float64()*100)
	}
	for _, v := range values {
		if v < m.minIndexable || v > m.maxIndexable {
			continue
		}
		if g, w := m.index(v), libMapping.Index(v); g != w {
			t.Fatalf("index(%v) = %d, library's %d", v, g, w)
		}
	}
	for i := -80000; i <= 80000; i++ {
		if g, w := m.value(i), libMapping.Value(i); g != w {
			t.Fatalf("value(%d) = %v, library's %v", i, g, w)
		}
	}
}

// TestEncodingMatchesLibrary: varints and varfloats are written, sized and
// read as the library does.
func TestEncodingMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ints := []int64{0, 1, -1, 63, 64, -64, -65, 127, 128, math.MaxInt64, math.MinInt64, 1 << 56, -(1 << 56)}
	for range 20000 {
		ints = append(ints, int64(r.Uint64())>>r.IntN(64))
	}
	for _, v := range ints {
		for _, u := range []uint64{uint64(v), zigzag(v)} {
			var want []byte
			enc.EncodeUvarint64(&want, u)
			if got := appendUvarint(nil, u); !slices.Equal(got, want) || uvarintSize(u) != enc.Uvarint64Size(u) {
				t.Fatalf("uvarint %d: %x (size %d), library's %x (size %d)", u, got, uvarintSize(u), want, enc.Uvarint64Size(u))
			}
			d := sketchDecoder{want}
			if back, err := d.uvarint(); err != nil || back != u || len(d.b) != 0 {
				t.Fatalf("uvarint %x read as %d, %v", want, back, err)
			}
		}
		var want []byte
		enc.EncodeVarint64(&want, v)
		if got := appendVarint(nil, v); !slices.Equal(got, want) || varintSize(v) != enc.Varint64Size(v) {
			t.Fatalf("varint %d: %x, library's %x", v, got, want)
		}
		d := sketchDecoder{want}
		if back, err := d.varint(); err != nil || back != v {
			t.Fatalf("varint %x read as %d, %v", want, back, err)
		}
	}
	floats := []float64{0, 1, 2, 0.5, 3, 1e6, 1e-6, math.MaxFloat64, math.SmallestNonzeroFloat64, -1, 123456789}
	for range 20000 {
		floats = append(floats, float64(r.IntN(1<<20)), r.Float64()*math.Pow(10, float64(r.IntN(40)-20)))
	}
	for _, v := range floats {
		var want []byte
		enc.EncodeVarfloat64(&want, v)
		if got := appendVarfloat(nil, v); !slices.Equal(got, want) || varfloatSize(v) != enc.Varfloat64Size(v) {
			t.Fatalf("varfloat %v: %x (size %d), library's %x (size %d)", v, got, varfloatSize(v), want, enc.Varfloat64Size(v))
		}
		d := sketchDecoder{want}
		lib := slices.Clone(want)
		lv, _ := enc.DecodeVarfloat64(&lib)
		if back, err := d.varfloat(); err != nil || math.Float64bits(back) != math.Float64bits(lv) {
			t.Fatalf("varfloat %x read as %v, %v; library reads %v", want, back, err, lv)
		}
	}
}

// FuzzDecodeSketch: any bytes the library decodes without error, ours
// decode to the same sketch (ours refuse more: a store that does not
// decode is an error here, skipped there).
func FuzzDecodeSketch(f *testing.F) {
	ref := newRefSketch()
	for _, v := range []float64{1, 2, 3, -4, 0, 1e9} {
		ref.add(v)
	}
	var b []byte
	ref.Encode(&b, false)
	f.Add(b)
	b = b[:0]
	ref.Encode(&b, true)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeSketch(data)
		lib := newRefSketch()
		libErr := lib.DecodeAndMergeWith(data)
		if err != nil {
			return
		}
		if libErr != nil {
			t.Fatalf("decoded %x, the library refuses it: %v", data, libErr)
		}
		var gb, lb []byte
		got.encode(&gb)
		lib.Encode(&lb, true)
		if !slices.Equal(gb, lb) {
			t.Fatalf("%x decodes to %x, the library's to %x", data, gb, lb)
		}
		if got.zero < 0 || got.zero+got.negCount()+got.pos.count < 1 {
			return // quantiles are asked of sketches holding a value
		}
		for q := 0.0; q <= 1; q += 0.125 {
			w := lib.quantile(q)
			if g := got.quantile(q, -math.MaxFloat64, math.MaxFloat64); g != w && !math.IsInf(w, 0) && !math.IsNaN(w) {
				t.Fatalf("%x: q%v = %v, the library's %v", data, q, g, w)
			}
		}
	})
}
