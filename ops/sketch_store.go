package ops

import (
	"errors"
	"math"

	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/pb/sketchpb"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// tightStore is a sketch store with the behaviour of sketches-go's
// CollapsingLowestDenseStore (bins of consecutive indexes; once the indexes
// span more than maxBins, the lowest are merged into the lowest bin kept)
// but a bin array sized to the indexes in use. The library's stores add 64
// spare bins to every array: 600 bytes per sketch whose values span ten
// bins, the bulk of a window group's memory with a percentile. Its Encode
// writes the bytes the library's store writes for the same bins.
//
// Its fields are packed so that a window group's sketch stays small:
// indexes are clamped to ±maxIndex (the mapping's indexes of finite
// values lie within ±40000; only a corrupt encoding goes beyond) to fit
// 32 bits, and maxBins fits 16.
type tightStore struct {
	bins      []float64 // bins[i] counts index lo+i; empty when count is 0
	count     float64
	lo        int32
	maxBins   uint16
	collapsed bool
}

// maxIndex bounds the indexes a tightStore keeps.
const maxIndex = 1<<30 - 1

// min returns the lowest index held.
func (s *tightStore) min() int { return int(s.lo) }

// newTightStore returns an empty store of at most maxBins (1…65535) bins.
func newTightStore(maxBins int) *tightStore { return &tightStore{maxBins: uint16(maxBins)} }

var _ store.Store = (*tightStore)(nil)

func (s *tightStore) max() int { return s.min() + len(s.bins) - 1 }

// Add adds one at index.
func (s *tightStore) Add(index int) { s.AddWithCount(index, 1) }

// AddBin adds a bin's count at its index.
func (s *tightStore) AddBin(b store.Bin) { s.AddWithCount(b.Index(), b.Count()) }

// AddWithCount adds count at index, growing the bins or collapsing the
// lowest ones as the library's collapsing-lowest store does.
func (s *tightStore) AddWithCount(index int, count float64) {
	if count == 0 {
		return
	}
	index = min(max(index, -maxIndex), maxIndex)
	switch {
	case len(s.bins) == 0:
		s.bins = append(s.bins[:0], count)
		s.lo = int32(index)
	case index < s.min():
		if s.collapsed {
			s.bins[0] += count
			break
		}
		lo := index
		if s.max()-index+1 > int(s.maxBins) {
			lo, s.collapsed = s.max()-int(s.maxBins)+1, true
		}
		s.bins = append(make([]float64, s.min()-lo, s.min()-lo+len(s.bins)), s.bins...)
		s.lo = int32(lo)
		s.bins[0] += count
	case index > s.max():
		if index-s.min()+1 <= int(s.maxBins) {
			s.bins = append(s.bins, make([]float64, index-s.max())...)
		} else {
			s.collapse(index - int(s.maxBins) + 1)
			s.bins = append(s.bins, make([]float64, index-s.max())...)
		}
		s.bins[index-s.min()] += count
	default:
		s.bins[index-s.min()] += count
	}
	s.count += count
}

// collapse merges the counts of the indexes below lo into lo, which
// becomes the lowest index.
func (s *tightStore) collapse(lo int) {
	s.collapsed = true
	if lo > s.max() {
		s.bins = append(s.bins[:0], s.count)
		s.lo = int32(lo)
		return
	}
	var n float64
	for _, c := range s.bins[:lo-s.min()] {
		n += c
	}
	kept := append([]float64(nil), s.bins[lo-s.min():]...)
	kept[0] += n
	s.bins, s.lo = kept, int32(lo)
}

// Bins returns the non-empty bins on a channel, lowest index first.
func (s *tightStore) Bins() <-chan store.Bin {
	ch := make(chan store.Bin)
	go func() {
		defer close(ch)
		s.ForEach(func(index int, count float64) bool {
			b, err := store.NewBin(index, count)
			if err == nil {
				ch <- *b
			}
			return false
		})
	}()
	return ch
}

// ForEach calls f for the non-empty bins, lowest index first, until it
// returns true.
func (s *tightStore) ForEach(f func(index int, count float64) (stop bool)) {
	for i, c := range s.bins {
		if c > 0 && f(s.min()+i, c) {
			return
		}
	}
}

// Copy returns a deep copy.
func (s *tightStore) Copy() store.Store {
	c := *s
	c.bins = append([]float64(nil), s.bins...)
	return &c
}

// Clear empties s.
func (s *tightStore) Clear() {
	s.bins, s.count, s.lo, s.collapsed = s.bins[:0], 0, 0, false
}

// IsEmpty reports whether s holds no count.
func (s *tightStore) IsEmpty() bool { return s.count == 0 }

var errEmptyStore = errors.New("empty sketch store has no index")

// MaxIndex returns the highest index.
func (s *tightStore) MaxIndex() (int, error) {
	if s.IsEmpty() {
		return 0, errEmptyStore
	}
	return s.max(), nil
}

// MinIndex returns the lowest index.
func (s *tightStore) MinIndex() (int, error) {
	if s.IsEmpty() {
		return 0, errEmptyStore
	}
	return s.min(), nil
}

// TotalCount returns the sum of the counts.
func (s *tightStore) TotalCount() float64 { return s.count }

// KeyAtRank returns the lowest index whose cumulative count exceeds rank
// (0-based), or the highest index.
func (s *tightStore) KeyAtRank(rank float64) int {
	rank = math.Max(rank, 0)
	var n float64
	for i, c := range s.bins {
		n += c
		if n > rank {
			return s.min() + i
		}
	}
	return s.max()
}

// MergeWith adds the bins of o, lowest index first.
func (s *tightStore) MergeWith(o store.Store) {
	o.ForEach(func(index int, count float64) bool {
		s.AddWithCount(index, count)
		return false
	})
}

// dense returns the library's dense store of the same bins.
func (s *tightStore) dense() *store.DenseStore {
	d := store.NewDenseStore()
	s.ForEach(func(index int, count float64) bool {
		d.AddWithCount(index, count)
		return false
	})
	return d
}

// ToProto returns the protobuf form of the bins.
func (s *tightStore) ToProto() *sketchpb.Store { return s.dense().ToProto() }

// EncodeProto adds the bins to a protobuf builder.
func (s *tightStore) EncodeProto(b *sketchpb.StoreBuilder) { s.dense().EncodeProto(b) }

// Reweight multiplies every count by w > 0.
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

// Encode appends the bins in the library's store encoding: contiguous
// counts from the lowest index, or index deltas and counts of the
// non-empty bins, whichever is shorter (contiguous on a tie).
func (s *tightStore) Encode(b *[]byte, t enc.FlagType) {
	if s.IsEmpty() {
		return
	}
	numBins := uint64(len(s.bins))
	dense := enc.Uvarint64Size(numBins) + enc.Varint64Size(int64(s.min())) + enc.Varint64Size(1)
	sparse, nonEmpty, prev := 0, uint64(0), s.min()
	for i, c := range s.bins {
		size := enc.Varfloat64Size(c)
		dense += size
		if c != 0 {
			nonEmpty++
			sparse += enc.Varint64Size(int64(s.min()+i-prev)) + size
			prev = s.min() + i
		}
	}
	sparse += enc.Uvarint64Size(nonEmpty)
	if dense <= sparse {
		enc.EncodeFlag(b, enc.NewFlag(t, enc.BinEncodingContiguousCounts))
		enc.EncodeUvarint64(b, numBins)
		enc.EncodeVarint64(b, int64(s.min()))
		enc.EncodeVarint64(b, 1)
		for _, c := range s.bins {
			enc.EncodeVarfloat64(b, c)
		}
		return
	}
	enc.EncodeFlag(b, enc.NewFlag(t, enc.BinEncodingIndexDeltasAndCounts))
	enc.EncodeUvarint64(b, nonEmpty)
	prev = 0
	for i, c := range s.bins {
		if c != 0 {
			enc.EncodeVarint64(b, int64(s.min()+i-prev))
			enc.EncodeVarfloat64(b, c)
			prev = s.min() + i
		}
	}
}

// DecodeAndMergeWith adds encoded bins to s.
func (s *tightStore) DecodeAndMergeWith(b *[]byte, mode enc.SubFlag) error {
	return store.DecodeAndMergeWith(s, b, mode)
}
