package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/rivulet-edge/rivulet/ops"
)

// rule is a validated Config with its defaults applied, shared by the
// series of one step. Its alert state machine steps every series in turn,
// so a rule is not safe for concurrent use.
type rule struct {
	kind  string
	field string
	cfg   Config
	sig   string // the detector settings; state is restored only into the same
	alert ops.AlertConfig
	// machine is the alert state machine of every series: each series'
	// state is copied in for a step and out after it.
	machine ops.Alert
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
	r.machine.Config = r.alert
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
		warn, crit := r.silences()
		d := &gap{Warn: warn, Crit: crit}
		return d, &d.State
	}
}

// silences returns after how long a silence (ns) a no_data rule warns and
// goes critical.
func (r *rule) silences() (warn, crit int64) {
	nd := r.cfg.NoData
	warn = int64(nd.Warn)
	if warn == 0 {
		warn = int64(nd.Crit)
	}
	return warn, int64(nd.Crit)
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

// track is the state of one series after its detector: a SustainState
// and an ops.AlertState, with the fields of one byte packed together (56
// bytes instead of 72 in two structs). The settings of both are the rule's.
type track struct {
	since          int64 // SustainState.Since
	count          int   // SustainState.Count
	held, cooldown int
	flap           float64
	raw, sustained ops.Level // SustainState.Raw and Level
	level, pending ops.Level // AlertState.Level and Pending
	flapping       bool
}

func (k *track) sustain() SustainState {
	return SustainState{Raw: k.raw, Count: k.count, Since: k.since, Level: k.sustained}
}

func (k *track) setSustain(s SustainState) {
	k.raw, k.count, k.since, k.sustained = s.Raw, s.Count, s.Since, s.Level
}

func (k *track) alert() ops.AlertState {
	return ops.AlertState{Level: k.level, Pending: k.pending, Held: k.held, Cooldown: k.cooldown, Flap: k.flap, Flapping: k.flapping}
}

func (k *track) setAlert(a ops.AlertState) {
	k.level, k.pending, k.held, k.cooldown, k.flap, k.flapping = a.Level, a.Pending, a.Held, a.Cooldown, a.Flap, a.Flapping
}

// step scores v at event time t with row i of det, then passes the level
// through the sustain check and the alert state machine of k. NaN and ±Inf
// are skipped except by bounds.
func (r *rule) step(det states, i int32, k *track, v float64, t int64) (float64, *ops.Transition) {
	if r.kind != "bounds" && (math.IsNaN(v) || math.IsInf(v, 0)) {
		return 0, nil
	}
	res := det.step(i, v, t)
	s := k.sustain()
	l := s.step(res.Level, t, r.cfg.Sustain)
	k.setSustain(s)
	return res.Score, r.raise(k, l, t)
}

// raise feeds level l at event time t to the alert state machine of k,
// with the rule's alert settings, and returns the transition, or nil.
func (r *rule) raise(k *track, l ops.Level, t int64) *ops.Transition {
	// Field by field: a copy of the whole struct reads wider than the
	// stores that built it, which stalls the CPU.
	m := &r.machine.State
	m.Level, m.Pending, m.Held, m.Cooldown, m.Flap, m.Flapping = k.level, k.pending, k.held, k.cooldown, k.flap, k.flapping
	tr := r.machine.Step(l, t)
	k.level, k.pending, k.held, k.cooldown, k.flap, k.flapping = m.Level, m.Pending, m.Held, m.Cooldown, m.Flap, m.Flapping
	return tr
}

// Series runs one rule over one series: detector, sustain and alert state
// machine. It is not safe for concurrent use.
type Series struct {
	r   *rule
	det states // one row, 0
	k   track
}

// NewSeries returns the detector of c for one series, as the engine runs
// it per series (in an Op) and the `rivulet detect` tool runs it over a
// CSV.
func NewSeries(c Config) (*Series, error) {
	r, err := newRule(c)
	if err != nil {
		return nil, err
	}
	s := &Series{r: r, det: r.newStates()}
	s.det.reset(0)
	return s, nil
}

// Step scores value v at event time t (ns) and returns the detector's
// score in [0, 1], the alert level after the state machine and the
// transition the point caused, or nil. NaN and ±Inf are skipped (score 0,
// level unchanged) except by bounds, for which they are impossible values.
// For no_data, which watches processing time in an Op, Step scores the gap
// in event time before each point instead. Step allocates only when it
// returns a transition.
func (s *Series) Step(v float64, t int64) (score float64, level ops.Level, tr *ops.Transition) {
	score, tr = s.r.step(s.det, 0, &s.k, v, t)
	return score, s.k.level, tr
}

// Level returns the alert level of the series.
func (s *Series) Level() ops.Level { return s.k.level }

// seriesState is the checkpoint of a series.
type seriesState struct {
	Det     json.RawMessage `json:"det,omitempty"`
	Sustain SustainState    `json:"sustain"`
	Alert   ops.AlertState  `json:"alert"`
}

// save returns the checkpoint of the series of row i of det and k. With
// scratch, its Det is valid until scratch's next use.
func save(det states, i int32, k *track, scratch *jsonScratch) (seriesState, error) {
	st := seriesState{Sustain: k.sustain(), Alert: k.alert()}
	if s := det.state(i); s != nil {
		b, err := scratch.marshal(s)
		if err != nil {
			return st, fmt.Errorf("detector state: %w", err)
		}
		st.Det = b
	}
	return st, nil
}

// restore loads st into row i of det, which reset made, and k; the
// detector state only when withDet (same settings).
func restore(det states, i int32, k *track, st seriesState, withDet bool) error {
	k.setSustain(st.Sustain)
	k.setAlert(st.Alert)
	if s := det.state(i); withDet && s != nil && len(st.Det) > 0 {
		if err := json.Unmarshal(st.Det, s); err != nil {
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

// jsonScratch encodes values as json.Marshal does into one reused buffer,
// so that a checkpoint of 10k series does not allocate a slice per series.
// A nil jsonScratch is json.Marshal.
type jsonScratch struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// marshal returns the JSON of v, valid until the next call.
func (j *jsonScratch) marshal(v any) ([]byte, error) {
	if j == nil {
		return json.Marshal(v)
	}
	if j.enc == nil {
		j.enc = json.NewEncoder(&j.buf)
	}
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		return nil, err
	}
	// Encode ends the value with a newline, which Marshal does not.
	return j.buf.Bytes()[:j.buf.Len()-1], nil
}
