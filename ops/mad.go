package ops

import (
	"math"
	"slices"
)

// MADState is the checkpointable state of a MAD detector: the last values
// in arrival order (Ring, oldest at Next once full) and the same values
// sorted. Sorted is derived from Ring and rebuilt when the two disagree in
// length, as after a damaged checkpoint.
type MADState struct {
	Ring   []float64 `json:"ring"`
	Next   int       `json:"next"`
	Sorted []float64 `json:"sorted"`
}

// MAD scores a value by its modified z-score 0.6745·|v − median| / MAD
// against the median and the median absolute deviation of the Window values
// before it: robust statistics, so neither a spike nor a few of them move
// the baseline. It keeps the exact window in a ring plus a sorted copy
// (memory 2·Window floats, fixed) rather than an approximate streaming
// median: Window is small (at most 1024), so keeping the copy sorted costs
// two binary searches and a memmove of at most Window floats per point, and
// the MAD is the k-th smallest of two sorted runs (the deviations below and
// above the median), found by binary search. When more
// than half the window is one value the MAD is 0; the scale then falls back
// to 1.2533 times the mean absolute deviation from the median, but at least
// the distance from the median to the nearest other value in the window and
// MinScale, so quantised or quiet data does not alert on every change.
type MAD struct {
	Window   int
	Warmup   int
	Warn     float64
	Crit     float64
	MinScale float64
	State    MADState
}

// NewMAD returns a MAD with its buffers allocated.
func NewMAD(window, warmup int, warn, crit, minScale float64) *MAD {
	return &MAD{Window: window, Warmup: warmup, Warn: warn, Crit: crit, MinScale: minScale,
		State: MADState{Ring: make([]float64, 0, window), Sorted: make([]float64, 0, window)}}
}

// Step scores v; the score is the modified z-score / Crit, capped at 1.
// Non-finite values are ignored.
func (d *MAD) Step(v float64, _ int64) Result {
	if !finite(v) || d.Window < 1 {
		return Result{}
	}
	v = clipMagnitude(v)
	s := &d.State
	if len(s.Sorted) != len(s.Ring) {
		s.Sorted = append(s.Sorted[:0], s.Ring...)
		slices.Sort(s.Sorted)
	}
	var r Result
	if n := len(s.Sorted); n >= max(d.Warmup, 3) {
		med := median(s.Sorted)
		z := 0.6745 * math.Abs(v-med) / d.scale(med)
		r = Result{Score: clamp01(z / d.Crit), Level: zLevel(z, d.Warn, d.Crit)}
	}
	d.push(v)
	return r
}

// scale returns the MAD of the window around med, or its fallbacks.
func (d *MAD) scale(med float64) float64 {
	s := d.State.Sorted
	floor := math.Max(d.MinScale, 1e-9*(1+math.Abs(med)))
	if m := kthDeviation(s, med, (len(s)-1)/2); m > floor {
		if len(s)%2 == 0 {
			m = (m + kthDeviation(s, med, len(s)/2)) / 2
		}
		return m
	}
	sum := 0.0
	for _, x := range s {
		sum += math.Abs(x - med)
	}
	// 1.2533·mean|dev| estimates σ; dividing by 1.4826 puts it on the MAD's
	// scale, which the 0.6745 of the score undoes. On quantised data the
	// nearest value other than the median bounds the scale from below: a
	// step of one quantum is never an anomaly.
	scale := 1.2533 * sum / float64(len(s)) / 1.4826
	if i, _ := slices.BinarySearch(s, math.Nextafter(med, math.Inf(1))); i < len(s) {
		scale = math.Max(scale, s[i]-med)
	}
	if i, _ := slices.BinarySearch(s, med); i > 0 {
		scale = math.Max(scale, med-s[i-1])
	}
	return math.Max(scale, floor)
}

func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1]/2 + s[n/2]/2
}

// kthDeviation returns the k-th smallest (from 0) of |x − med| over sorted
// s. The deviations form two sorted runs, A walking down from the median
// and B walking up from it; the answer takes i from A and k+1−i from B for
// the one i where the two cuts agree, found by binary search in O(log n).
func kthDeviation(s []float64, med float64, k int) float64 {
	split, _ := slices.BinarySearch(s, med) // s[split:] >= med
	na, nb := split, len(s)-split
	a := func(i int) float64 { return med - s[split-1-i] }
	b := func(j int) float64 { return s[split+j] - med }
	k = min(k, len(s)-1)
	lo, hi := max(0, k+1-nb), min(k+1, na)
	for lo < hi {
		i := lo + (hi-lo)/2
		if j := k + 1 - i; j > 0 && i < na && b(j-1) > a(i) {
			lo = i + 1 // too few taken from A
		} else {
			hi = i
		}
	}
	i, j := lo, k+1-lo
	dev := math.Inf(-1)
	if i > 0 {
		dev = a(i - 1)
	}
	if j > 0 {
		dev = math.Max(dev, b(j-1))
	}
	return dev
}

// push adds v to the window, dropping the oldest value once it is full.
func (d *MAD) push(v float64) {
	s := &d.State
	if len(s.Ring) < d.Window {
		s.Ring = append(s.Ring, v)
		s.Sorted = insertSorted(s.Sorted, v)
		return
	}
	if s.Next < 0 || s.Next >= len(s.Ring) { // a damaged checkpoint
		s.Next = 0
	}
	old := s.Ring[s.Next]
	s.Ring[s.Next] = v
	s.Next = (s.Next + 1) % len(s.Ring)
	i, _ := slices.BinarySearch(s.Sorted, old)
	i = min(i, len(s.Sorted)-1)
	s.Sorted = slices.Delete(s.Sorted, i, i+1)
	s.Sorted = insertSorted(s.Sorted, v)
}

func insertSorted(s []float64, v float64) []float64 {
	i, _ := slices.BinarySearch(s, v)
	return slices.Insert(s, i, v)
}
