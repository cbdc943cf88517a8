package ops

import "math"

// Level is the severity a detector assigns to one point.
type Level uint8

// The levels, in increasing severity.
const (
	OK Level = iota
	Warn
	Crit
)

var levelNames = [...]string{"ok", "warn", "crit"}

// String returns the config and alert name of l.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "unknown"
}

// Result is a detector's verdict on one point. Score is in [0, 1]; 1 is the
// most anomalous.
type Result struct {
	Score float64
	Level Level
}

// Detector scores a series one point at a time. Step is O(1) in time and
// memory and does not allocate; it is not safe for concurrent use. Non-finite
// values never make the state non-finite.
type Detector interface {
	Step(v float64, t int64) Result
}

func clamp01(x float64) float64 {
	if !(x > 0) { // also catches NaN
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// sustain counts consecutive points of one raw level so a rise in level is
// only reported after it held for n points.
type sustain struct {
	Raw   Level `json:"raw"`
	Count int   `json:"count"`
}

func (s *sustain) step(raw, cur Level, n int) Level {
	if raw == s.Raw {
		s.Count++
	} else {
		s.Raw, s.Count = raw, 1
	}
	if raw > cur && s.Count < n {
		return cur
	}
	return raw
}

// ThresholdState is the checkpointable state of a Threshold.
type ThresholdState struct {
	Level   Level   `json:"level"`
	Sustain sustain `json:"sustain"`
}

// Threshold compares a value with fixed warn and crit levels. A level is
// left only when the value falls back past its reset level (hysteresis), and
// entered only after the value held past it for Sustain points. With Below
// set, the direction is reversed: low values are bad.
type Threshold struct {
	Warn, Crit           float64
	WarnReset, CritReset float64
	Below                bool
	Sustain              int
	State                ThresholdState
}

// Step scores v. The score is 0 at WarnReset, 0.5 at Warn and 1 at Crit.
func (d *Threshold) Step(v float64, _ int64) Result {
	if math.IsNaN(v) {
		return Result{Level: d.State.Level}
	}
	w, c, wr, cr := d.Warn, d.Crit, d.WarnReset, d.CritReset
	if d.Below {
		v, w, c, wr, cr = -v, -w, -c, -wr, -cr
	}
	raw := OK
	switch {
	case v >= c || (d.State.Level == Crit && v > cr):
		raw = Crit
	case v >= w || (d.State.Level >= Warn && v > wr):
		raw = Warn
	}
	d.State.Level = d.State.Sustain.step(raw, d.State.Level, d.Sustain)
	return Result{Score: thresholdScore(v, w, c, wr), Level: d.State.Level}
}

func thresholdScore(v, w, c, wr float64) float64 {
	if v < w {
		if w <= wr {
			return 0
		}
		return clamp01(0.5 * (v - wr) / (w - wr))
	}
	if c <= w {
		return 1
	}
	return clamp01(0.5 + 0.5*(v-w)/(c-w))
}

// EWMAState is the checkpointable state of an EWMA detector.
type EWMAState struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	Var  float64 `json:"var"`
}

// EWMA scores the z-score of a value against an exponentially weighted mean
// and variance of the values before it. During the first Warmup points it
// only learns. Alpha is the weight of a new point; early points weigh 1/n so
// the estimate is not biased towards zero.
type EWMA struct {
	Alpha  float64
	Warmup int64
	WarnZ  float64
	CritZ  float64
	State  EWMAState
}

// Step scores v; the score is |z| / CritZ, capped at 1.
func (d *EWMA) Step(v float64, _ int64) Result {
	if !finite(v) {
		return Result{}
	}
	s := &d.State
	var r Result
	if s.N >= d.Warmup && s.N > 1 {
		z := math.Abs(v-s.Mean) / math.Sqrt(s.Var+1e-12)
		r = Result{Score: clamp01(z / d.CritZ), Level: zLevel(z, d.WarnZ, d.CritZ)}
	}
	s.N++
	a := math.Max(d.Alpha, 1/float64(s.N))
	diff := v - s.Mean
	s.Mean += a * diff
	s.Var = (1 - a) * (s.Var + a*diff*diff)
	if !finite(s.Mean) || !finite(s.Var) {
		*s = EWMAState{}
	}
	return r
}

func zLevel(z, warn, crit float64) Level {
	switch {
	case z >= crit:
		return Crit
	case z >= warn:
		return Warn
	}
	return OK
}

// RateState is the checkpointable state of a Rate detector.
type RateState struct {
	Seen bool    `json:"seen"`
	Prev float64 `json:"prev"`
	T    int64   `json:"t"`
}

// Rate bounds the rate of change per second between consecutive points,
// in either direction. Points that do not advance event time are ignored.
type Rate struct {
	Warn, Crit float64
	State      RateState
}

// Step scores v observed at event time t (ns); the score is rate / Crit.
func (d *Rate) Step(v float64, t int64) Result {
	if !finite(v) {
		return Result{}
	}
	s := &d.State
	if !s.Seen || t <= s.T {
		if !s.Seen {
			*s = RateState{Seen: true, Prev: v, T: t}
		}
		return Result{}
	}
	rate := math.Abs(v-s.Prev) / (float64(t-s.T) / 1e9)
	s.Prev, s.T = v, t
	return Result{Score: clamp01(rate / d.Crit), Level: zLevel(rate, d.Warn, d.Crit)}
}

// StuckState is the checkpointable state of a Stuck detector.
type StuckState struct {
	Ref   float64 `json:"ref"`
	Count int64   `json:"count"`
}

// Stuck reports a sensor whose value stayed within Epsilon of the same value
// for Warn (then Crit) consecutive points.
type Stuck struct {
	Epsilon    float64
	Warn, Crit int64
	State      StuckState
}

// Step scores v; the score is the run length / Crit.
func (d *Stuck) Step(v float64, _ int64) Result {
	if !finite(v) {
		return Result{}
	}
	s := &d.State
	if s.Count > 0 && math.Abs(v-s.Ref) <= d.Epsilon {
		s.Count++
	} else {
		s.Ref, s.Count = v, 1
	}
	n := float64(s.Count)
	return Result{Score: clamp01(n / float64(d.Crit)), Level: zLevel(n, float64(d.Warn), float64(d.Crit))}
}

// Bounds reports values outside the physically possible range [Min, Max],
// including NaN and ±Inf, as Crit. It has no state.
type Bounds struct {
	Min, Max float64
}

// Step scores v: 1 outside the bounds, 0 inside.
func (d *Bounds) Step(v float64, _ int64) Result {
	if v >= d.Min && v <= d.Max {
		return Result{}
	}
	return Result{Score: 1, Level: Crit}
}
