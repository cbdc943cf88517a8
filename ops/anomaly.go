package ops

import "math"

// AnomalyState is the checkpointable state of an Anomaly detector.
type AnomalyState struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	Dev  float64 `json:"dev"`
	Long float64 `json:"long"`
	Prev float64 `json:"prev"`
	DDev float64 `json:"ddev"`
}

// Anomaly is the detector that works without tuning. It keeps an
// exponentially weighted mean and an exponentially weighted mean absolute
// deviation (a MAD-like robust scale) of the level and of the step between
// points, and scores the larger of the two robust z-scores. Values feeding
// the estimates are clipped to ClipZ scales, so one spike does not inflate
// the scale and hide the next, while a level shift is still learnt. The
// scale never falls below a tenth of its slow long-run value, so a quiet
// stretch does not make every ripple an anomaly.
type Anomaly struct {
	Alpha  float64 // weight of a new point in the mean
	Beta   float64 // weight of a new point in the scales
	Warmup int64
	ClipZ  float64
	// Half is the z-score that scores 0.5; score = z / (z + Half).
	Half       float64
	Warn, Crit float64 // score levels
	State      AnomalyState
}

// DefaultAnomaly returns the Anomaly detector with its defaults.
func DefaultAnomaly() Anomaly {
	return Anomaly{Alpha: 0.05, Beta: 0.01, Warmup: 50, ClipZ: 4, Half: 4, Warn: 0.6, Crit: 0.75}
}

// Step scores v. Non-finite values are ignored.
func (d *Anomaly) Step(v float64, _ int64) Result {
	if !finite(v) {
		return Result{}
	}
	s := &d.State
	var r Result
	scale, dscale := d.scales()
	dv := v - s.Prev
	if s.N >= d.Warmup {
		z := math.Max(math.Abs(v-s.Mean)/scale, math.Abs(dv)/dscale)
		sc := z / (z + d.Half)
		r = Result{Score: clamp01(sc), Level: zLevel(sc, d.Warn, d.Crit)}
	}
	d.learn(v, dv, scale, dscale)
	return r
}

func (d *Anomaly) scales() (float64, float64) {
	s := &d.State
	floor := 1e-9 * (1 + math.Abs(s.Mean))
	scale := math.Max(1.2533*s.Dev, math.Max(0.1*s.Long, floor))
	return scale, math.Max(1.2533*s.DDev, math.Max(0.05*s.Long, floor))
}

func (d *Anomaly) learn(v, dv, scale, dscale float64) {
	s := &d.State
	s.N++
	if s.N == 1 {
		s.Mean, s.Prev = v, v
		return
	}
	a := math.Max(d.Alpha, 1/float64(s.N))
	b := math.Max(d.Beta, 1/float64(s.N))
	lim, dlim := math.Inf(1), math.Inf(1)
	if s.N > d.Warmup {
		lim, dlim = d.ClipZ*scale, d.ClipZ*dscale
	}
	dev := math.Min(math.Abs(v-s.Mean), lim)
	dv = math.Max(-dlim, math.Min(dv, dlim))
	s.Mean += a * math.Max(-lim, math.Min(v-s.Mean, lim))
	s.Dev += b * (dev - s.Dev)
	s.DDev += b * (math.Abs(dv) - s.DDev)
	s.Long += math.Max(b/20, 1/float64(s.N)) * (s.Dev - s.Long)
	s.Prev = v
	if !finite(s.Mean) || !finite(s.Dev) || !finite(s.DDev) || !finite(s.Long) {
		*s = AnomalyState{}
	}
}
