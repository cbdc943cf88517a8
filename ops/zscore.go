package ops

import "math"

// maxMagnitude bounds the values the windowed detectors keep: a value
// beyond it is clipped, so that sums of squares over a window cannot
// overflow while a huge spike still scores as huge. The Bounds detector is
// the one that reports physically impossible values.
const maxMagnitude = 1e150

func clipMagnitude(v float64) float64 { return math.Max(-maxMagnitude, math.Min(v, maxMagnitude)) }

// ZScoreState is the checkpointable state of a ZScore detector. Ring holds
// the last values in arrival order from Next on (once full); Sum and SumSq
// are the sums of value-Ref and its square over Ring, recomputed from Ring
// every len(Ring) points so rounding errors cannot pile up.
type ZScoreState struct {
	Ring  []float64 `json:"ring"`
	Next  int       `json:"next"`
	Ref   float64   `json:"ref"`
	Sum   float64   `json:"sum"`
	SumSq float64   `json:"sumsq"`
	Since int       `json:"since"`
}

// ZScore scores the z-score of a value against the mean and standard
// deviation of the Window values before it. Memory is O(Window), fixed once
// the window is full, and each point costs O(1): running sums are updated
// as a value enters and leaves the ring. The sums are of values shifted by
// Ref (a recent value), which keeps the variance free of catastrophic
// cancellation when the mean is large against the spread; they are
// recomputed exactly every Window points. Before Warmup points (at least 2)
// it only learns. MinStd is a floor for the standard deviation, so that a
// series that was flat does not turn its first ripple into an alert.
type ZScore struct {
	Window int
	Warmup int
	WarnZ  float64
	CritZ  float64
	MinStd float64
	State  ZScoreState
}

// NewZScore returns a ZScore with its ring allocated.
func NewZScore(window, warmup int, warnZ, critZ, minStd float64) *ZScore {
	return &ZScore{Window: window, Warmup: warmup, WarnZ: warnZ, CritZ: critZ, MinStd: minStd,
		State: ZScoreState{Ring: make([]float64, 0, window)}}
}

// Step scores v; the score is |z| / CritZ, capped at 1. Non-finite values
// are ignored.
func (d *ZScore) Step(v float64, _ int64) Result {
	if !finite(v) || d.Window < 1 {
		return Result{}
	}
	v = clipMagnitude(v)
	s := &d.State
	var r Result
	if n := len(s.Ring); n >= max(d.Warmup, 2) {
		mean := s.Sum / float64(n)
		sd := math.Sqrt(math.Max(s.SumSq/float64(n)-mean*mean, 0))
		sd = math.Max(sd, math.Max(d.MinStd, 1e-12*(1+math.Abs(mean+s.Ref))))
		z := math.Abs(v-s.Ref-mean) / sd
		r = Result{Score: clamp01(z / d.CritZ), Level: zLevel(z, d.WarnZ, d.CritZ)}
	}
	d.push(v)
	return r
}

// push adds v to the ring, dropping the oldest value once it is full.
func (d *ZScore) push(v float64) {
	s := &d.State
	if len(s.Ring) == 0 {
		s.Ref = v
	}
	x := v - s.Ref
	if len(s.Ring) < d.Window {
		s.Ring = append(s.Ring, v)
	} else {
		if s.Next < 0 || s.Next >= len(s.Ring) { // a damaged checkpoint
			s.Next = 0
		}
		old := s.Ring[s.Next] - s.Ref
		s.Ring[s.Next] = v
		s.Next = (s.Next + 1) % len(s.Ring)
		s.Sum -= old
		s.SumSq -= old * old
	}
	s.Sum += x
	s.SumSq += x * x
	s.Since++
	if s.Since >= len(s.Ring) || !finite(s.Sum) || !finite(s.SumSq) {
		d.recompute()
	}
}

// recompute sets Ref to the newest value and the sums exactly from Ring.
func (d *ZScore) recompute() {
	s := &d.State
	if s.Next < 0 || s.Next >= len(s.Ring) {
		s.Next = 0
	}
	newest := (s.Next + len(s.Ring) - 1) % len(s.Ring)
	s.Ref = s.Ring[newest]
	s.Sum, s.SumSq, s.Since = 0, 0, 0
	for _, v := range s.Ring {
		x := v - s.Ref
		s.Sum += x
		s.SumSq += x * x
	}
}
