package detect

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/rivulet-edge/rivulet/ops"
)

// rule is a validated Config with its defaults applied, shared by the
// series of one step.
type rule struct {
	kind  string
	field string
	cfg   Config
	sig   string // the detector settings; state is restored only into the same
	alert ops.AlertConfig
}

func newRule(c Config) (*rule, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	kind, _ := c.kind()
	r := &rule{kind: kind, field: c.field(), cfg: c, alert: c.Alert}
	if kind == "no_data" {
		// Silence has its own durations, and escalations must not wait
		// for points that by definition do not come.
		r.alert.MinPoints, r.alert.Cooldown = 1, 0
	}
	d, _ := r.newDetector()
	r.sig = fmt.Sprintf("%s %+v", kind, d)
	return r, nil
}

// newDetector returns a fresh detector and a pointer to its checkpointable
// state (nil for a stateless one).
func (r *rule) newDetector() (ops.Detector, any) {
	c := r.cfg
	switch r.kind {
	case "threshold":
		t := c.Threshold
		warn := t.Warn
		if math.IsNaN(warn) {
			warn = t.Crit
		}
		h := t.Hysteresis
		if t.Below {
			h = -h
		}
		d := &ops.Threshold{Warn: warn, Crit: t.Crit, WarnReset: warn - h, CritReset: t.Crit - h, Below: t.Below, Sustain: 1}
		return d, &d.State
	case "zscore":
		z := c.ZScore.resolved()
		d := ops.NewZScore(z.Window, z.Warmup, z.WarnZ, z.CritZ, z.MinStd)
		return d, &d.State
	case "ewma":
		e := c.EWMA.resolved()
		d := &ops.EWMA{Alpha: e.Alpha, Warmup: int64(e.Warmup), WarnZ: e.WarnZ, CritZ: e.CritZ}
		return d, &d.State
	case "mad":
		m := c.MAD.resolved()
		d := ops.NewMAD(m.Window, m.Warmup, m.WarnZ, m.CritZ, m.MinScale)
		return d, &d.State
	case "rate":
		rc := c.Rate.resolved()
		d := &ops.Rate{Warn: rc.Warn, Crit: rc.Crit}
		return d, &d.State
	case "stuck":
		s := c.Stuck.resolved()
		d := &stuck{Epsilon: s.Epsilon, Warn: int64(s.Warn), Crit: int64(s.Crit)}
		return d, &d.State
	case "bounds":
		return &ops.Bounds{Min: c.Bounds.Min, Max: c.Bounds.Max}, nil
	case "anomaly":
		a := c.Anomaly.resolved()
		d := ops.DefaultAnomaly()
		d.Alpha, d.Beta, d.Warmup, d.Warn, d.Crit = a.Alpha, a.Beta, a.Warmup, a.Warn, a.Crit
		return &d, &d.State
	default: // no_data
		nd := c.NoData
		warn := nd.Warn
		if warn == 0 {
			warn = nd.Crit
		}
		d := &gap{Warn: int64(warn), Crit: int64(nd.Crit)}
		return d, &d.State
	}
}

// threshold returns the detector's level boundary for level l, in the
// detector's own unit (value, z-score, per second, seconds, score), and
// whether it has one. v is the value scored, for bounds.
func (r *rule) threshold(l ops.Level, v float64) (float64, bool) {
	c := r.cfg
	pick := func(warn, crit float64) (float64, bool) {
		if l == ops.Crit {
			return crit, true
		}
		return warn, true
	}
	switch r.kind {
	case "threshold":
		w := c.Threshold.Warn
		if math.IsNaN(w) {
			w = c.Threshold.Crit
		}
		return pick(w, c.Threshold.Crit)
	case "zscore":
		z := c.ZScore.resolved()
		return pick(z.WarnZ, z.CritZ)
	case "ewma":
		e := c.EWMA.resolved()
		return pick(e.WarnZ, e.CritZ)
	case "mad":
		m := c.MAD.resolved()
		return pick(m.WarnZ, m.CritZ)
	case "rate":
		rc := c.Rate.resolved()
		return pick(rc.Warn, rc.Crit)
	case "stuck":
		s := c.Stuck.resolved()
		return pick(s.Warn.Seconds(), s.Crit.Seconds())
	case "anomaly":
		a := c.Anomaly.resolved()
		return pick(a.Warn, a.Crit)
	case "no_data":
		w := c.NoData.Warn
		if w == 0 {
			w = c.NoData.Crit
		}
		return pick(w.Seconds(), c.NoData.Crit.Seconds())
	case "bounds":
		if v > c.Bounds.Max {
			return c.Bounds.Max, true
		}
		if v < c.Bounds.Min {
			return c.Bounds.Min, true
		}
	}
	return 0, false
}

// SustainState is the checkpointable state of a sustain check: the raw
// level of the latest points, since when (event time) and for how many
// points it held, and the level passed on.
type SustainState struct {
	Raw   ops.Level `json:"raw"`
	Count int       `json:"count"`
	Since int64     `json:"since"`
	Level ops.Level `json:"level"`
}

// step passes raw on, holding a rise back until raw held for c.Points
// points and c.Duration of event time. A fall passes at once: how long a
// recovery must hold is the alert's min_points.
func (s *SustainState) step(raw ops.Level, t int64, c SustainConfig) ops.Level {
	if raw == s.Raw && s.Count > 0 {
		s.Count++
	} else {
		s.Raw, s.Count, s.Since = raw, 1, t
	}
	if raw > s.Level && (s.Count < c.Points || t-s.Since < int64(c.Duration)) {
		return s.Level
	}
	s.Level = raw
	return raw
}

// Series runs one rule over one series: detector, sustain and alert state
// machine. It is not safe for concurrent use.
type Series struct {
	r       *rule
	det     ops.Detector
	state   any
	sustain SustainState
	alert   ops.Alert
}

// NewSeries returns the detector of c for one series, as the engine runs
// it per series and the `rivulet detect` tool runs it over a CSV.
func NewSeries(c Config) (*Series, error) {
	r, err := newRule(c)
	if err != nil {
		return nil, err
	}
	return r.newSeries(), nil
}

func (r *rule) newSeries() *Series {
	d, st := r.newDetector()
	return &Series{r: r, det: d, state: st, alert: ops.Alert{Config: r.alert}}
}

// Step scores value v at event time t (ns) and returns the detector's
// score in [0, 1], the alert level after the state machine and the
// transition the point caused, or nil. NaN and ±Inf are skipped (score 0,
// level unchanged) except by bounds, for which they are impossible values.
// For no_data, which watches processing time in an Op, Step scores the gap
// in event time before each point instead. Step allocates only when it
// returns a transition.
func (s *Series) Step(v float64, t int64) (score float64, level ops.Level, tr *ops.Transition) {
	if s.r.kind != "bounds" && (math.IsNaN(v) || math.IsInf(v, 0)) {
		return 0, s.alert.State.Level, nil
	}
	res := s.det.Step(v, t)
	l := s.sustain.step(res.Level, t, s.r.cfg.Sustain)
	tr = s.alert.Step(l, t)
	return res.Score, s.alert.State.Level, tr
}

// Level returns the alert level of the series.
func (s *Series) Level() ops.Level { return s.alert.State.Level }

// seriesState is the checkpoint of a Series.
type seriesState struct {
	Det     json.RawMessage `json:"det,omitempty"`
	Sustain SustainState    `json:"sustain"`
	Alert   ops.AlertState  `json:"alert"`
}

func (s *Series) save() (seriesState, error) {
	st := seriesState{Sustain: s.sustain, Alert: s.alert.State}
	if s.state != nil {
		b, err := json.Marshal(s.state)
		if err != nil {
			return st, fmt.Errorf("detector state: %w", err)
		}
		st.Det = b
	}
	return st, nil
}

// restore loads st; the detector state only when withDet (same settings).
func (s *Series) restore(st seriesState, withDet bool) error {
	s.sustain, s.alert.State = st.Sustain, st.Alert
	if withDet && s.state != nil && len(st.Det) > 0 {
		if err := json.Unmarshal(st.Det, s.state); err != nil {
			return fmt.Errorf("detector state: %w", err)
		}
	}
	return nil
}

// StuckState is the checkpointable state of a stuck check.
type StuckState struct {
	Seen  bool    `json:"seen"`
	Ref   float64 `json:"ref"`
	Since int64   `json:"since"`
}

// stuck reports a value that stayed within Epsilon of the first value of
// its run for Warn (then Crit) nanoseconds of event time.
type stuck struct {
	Epsilon    float64
	Warn, Crit int64
	State      StuckState
}

func (d *stuck) Step(v float64, t int64) ops.Result {
	s := &d.State
	if !s.Seen || !(math.Abs(v-s.Ref) <= d.Epsilon) || t < s.Since {
		*s = StuckState{Seen: true, Ref: v, Since: t}
		return ops.Result{}
	}
	return durationResult(t-s.Since, d.Warn, d.Crit)
}

func durationResult(dur, warn, crit int64) ops.Result {
	r := ops.Result{Score: math.Min(float64(dur)/float64(crit), 1)}
	switch {
	case dur >= crit:
		r.Level = ops.Crit
	case dur >= warn:
		r.Level = ops.Warn
	}
	return r
}

// GapState is the checkpointable state of a gap check.
type GapState struct {
	Seen bool  `json:"seen"`
	T    int64 `json:"t"`
}

// gap scores the event-time gap before each point against Warn and Crit:
// no_data for a series replayed from a file, where there is no processing
// time to watch.
type gap struct {
	Warn, Crit int64
	State      GapState
}

func (d *gap) Step(_ float64, t int64) ops.Result {
	s := &d.State
	var r ops.Result
	if s.Seen && t > s.T {
		r = durationResult(t-s.T, d.Warn, d.Crit)
	}
	if !s.Seen || t > s.T {
		*s = GapState{Seen: true, T: t}
	}
	return r
}
