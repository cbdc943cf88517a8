package ops

import "math"

// tightStore is a sketch store with the behaviour of sketches-go's
// CollapsingLowestDenseStore (bins of consecutive indexes; once the indexes
// span more than maxBins, the lowest are merged into the lowest bin kept)
// but a bin array sized to the indexes in use. The library's stores add 64
// spare bins to every array: 600 bytes per sketch whose values span ten
// bins, the bulk of a window group's memory with a percentile. Its encode
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

func (s *tightStore) max() int { return s.min() + len(s.bins) - 1 }

// Add adds one at index.
func (s *tightStore) Add(index int) { s.AddWithCount(index, 1) }

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

// ForEach calls f for the non-empty bins, lowest index first, until it
// returns true.
func (s *tightStore) ForEach(f func(index int, count float64) (stop bool)) {
	for i, c := range s.bins {
		if c > 0 && f(s.min()+i, c) {
			return
		}
	}
}

// clone returns a deep copy.
func (s *tightStore) clone() *tightStore {
	c := *s
	c.bins = append([]float64(nil), s.bins...)
	return &c
}

// IsEmpty reports whether s holds no count.
func (s *tightStore) IsEmpty() bool { return s.count == 0 }

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

// mergeFrom adds the bins of o, lowest index first.
func (s *tightStore) mergeFrom(o *tightStore) {
	o.ForEach(func(index int, count float64) bool {
		s.AddWithCount(index, count)
		return false
	})
}

// encode appends the bins in the library's store encoding, under a flag
// of type t: contiguous counts from the lowest index, or index deltas and
// counts of the non-empty bins, whichever is shorter (contiguous on a
// tie).
func (s *tightStore) encode(b []byte, t byte) []byte {
	if s.IsEmpty() {
		return b
	}
	numBins := uint64(len(s.bins))
	dense := uvarintSize(numBins) + varintSize(int64(s.min())) + varintSize(1)
	sparse, nonEmpty, prev := 0, uint64(0), s.min()
	for i, c := range s.bins {
		size := varfloatSize(c)
		dense += size
		if c != 0 {
			nonEmpty++
			sparse += varintSize(int64(s.min()+i-prev)) + size
			prev = s.min() + i
		}
	}
	sparse += uvarintSize(nonEmpty)
	if dense <= sparse {
		b = append(b, t|binsContiguous)
		b = appendUvarint(b, numBins)
		b = appendVarint(b, int64(s.min()))
		b = appendVarint(b, 1)
		for _, c := range s.bins {
			b = appendVarfloat(b, c)
		}
		return b
	}
	b = append(b, t|binsDeltasAndCounts)
	b = appendUvarint(b, nonEmpty)
	prev = 0
	for i, c := range s.bins {
		if c != 0 {
			b = appendVarint(b, int64(s.min()+i-prev))
			b = appendVarfloat(b, c)
			prev = s.min() + i
		}
	}
	return b
}
