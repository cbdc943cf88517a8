package engine

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/window"
)

// sessionOp runs session windows: per group, points closer than gap in
// event time form one session, capped at max_duration. A session closes
// when the watermark passes its end (last point + gap, or start +
// max_duration); its result has the session's start as time and a field
// session_s with its length in seconds.
type sessionOp struct {
	name      string
	plan      *ops.Plan
	groupBy   []string
	gap       int64
	maxDur    int64
	late      string
	lateness  int64
	maxSeries int
	side      emitFunc

	wm    window.Watermark
	fired int64
	keys  map[string]*sessionKey
	due   int64 // smallest end of an unfired session
	// release is the smallest end + allowed_lateness of a fired session
	// still held: Advance drops it once the watermark gets there.
	release int64
	dirty   bool
	counts  opCounts

	keyBuf []byte
	out    point.Point
}

type sessionKey struct {
	Tags     []point.Tag `json:"tags,omitempty"`
	Sessions []*session  `json:"sessions"` // sorted by start, disjoint
}

type session struct {
	Start int64      `json:"start"`
	Last  int64      `json:"last"`
	G     *ops.Group `json:"g"`
	Fired bool       `json:"fired,omitempty"`
	Dirty bool       `json:"dirty,omitempty"`
}

func newSessionOp(c StepConfig, side emitFunc) (*sessionOp, error) {
	plan, err := ops.NewPlan(c.aggregates())
	if err != nil {
		return nil, err
	}
	return &sessionOp{
		name: c.Name, plan: plan, groupBy: c.GroupBy, gap: int64(c.Window.Gap), maxDur: int64(c.Window.MaxDuration),
		late: c.Window.Late, lateness: int64(c.Window.AllowedLateness), maxSeries: c.MaxSeries, side: side,
		wm: window.NewWatermark(c.Window.MaxDelay, c.Window.IdleTimeout), fired: window.None,
		keys: map[string]*sessionKey{}, due: math.MaxInt64, release: math.MaxInt64,
	}, nil
}

// end returns the end of session s: its last point plus the gap, or its
// start plus the maximum duration.
func (o *sessionOp) end(s *session) int64 {
	e := s.Last + o.gap
	if o.maxDur > 0 {
		e = min(e, s.Start+o.maxDur)
	}
	return e
}

// fits reports whether t can join s without breaking the gap or the
// maximum duration.
func (o *sessionOp) fits(s *session, t int64) bool {
	if t <= s.Start-o.gap || t >= s.Last+o.gap {
		return false
	}
	return o.maxDur == 0 || (max(s.Last, t)-min(s.Start, t) < o.maxDur && t < s.Start+o.maxDur)
}

// newEnd returns the end of a session holding only a point at t.
func (o *sessionOp) newEnd(t int64) int64 {
	if o.maxDur > 0 {
		return t + min(o.gap, o.maxDur)
	}
	return t + o.gap
}

func (o *sessionOp) Add(p *point.Point, t, proc int64, _ emitFunc) {
	o.wm.Observe(t, proc)
	o.keyBuf = appendGroupKey(o.keyBuf[:0], o.groupBy, p)
	k := o.keys[string(o.keyBuf)]
	// The sessions t joins; joining several merges them.
	var hitBuf [4]int
	hit := hitBuf[:0]
	if k != nil {
		for i, s := range k.Sessions {
			if o.fits(s, t) {
				hit = append(hit, i)
			}
		}
	}
	if len(hit) > 1 && o.maxDur > 0 {
		// A point that bridges sessions merges them only if the merged
		// session stays within max_duration; otherwise it joins the last
		// of them starting at or before t (the first if none does), so
		// that sessions stay disjoint.
		first, last := k.Sessions[hit[0]], k.Sessions[hit[len(hit)-1]]
		if max(last.Last, t)-min(first.Start, t) >= o.maxDur {
			j := hit[0]
			for _, i := range hit[1:] {
				if k.Sessions[i].Start <= t {
					j = i
				}
			}
			hit = append(hit[:0], j)
		}
	}
	// fired: t joins a session that has fired; released: one of them is
	// past its allowed lateness (still in memory only until the next full
	// pass of Advance), so the point is too late to update it.
	// A late point that would move a fired session's start (it comes
	// before it, or bridges it to an earlier session) is too late as well:
	// the start is the result's identity, and a new one would leave the
	// old result upstream next to the new.
	fired, released := false, false
	for n, i := range hit {
		if s := k.Sessions[i]; s.Fired {
			fired = true
			released = released || o.end(s)+o.lateness <= o.fired || t < s.Start || n > 0
		}
	}
	tooLate := len(hit) == 0 && o.fired != window.None && o.newEnd(t) <= o.fired
	if fired || tooLate {
		held := o.late == window.LateUpdate &&
			((fired && !released) || (tooLate && o.newEnd(t)+o.lateness > o.fired))
		switch {
		case held:
			o.counts.LateUpdated++
		case o.late == window.LateSide || (o.late == window.LateUpdate && o.side != nil):
			o.counts.LateSide++
			if o.side != nil {
				q := *p
				q.Time = t
				o.side(&q)
			}
			return
		default:
			o.counts.LateDropped++
			return
		}
	}
	if k == nil {
		if len(o.keys) >= o.maxSeries {
			o.counts.Refused++
			return
		}
		k = &sessionKey{Tags: groupTags(o.groupBy, p)}
		o.keys[string(o.keyBuf)] = k
	}
	var s *session
	if len(hit) == 0 {
		s = &session{Start: t, Last: t, G: o.plan.NewGroup(k.Tags)}
		i, _ := slices.BinarySearchFunc(k.Sessions, t, func(s *session, t int64) int { return cmpInt(s.Start, t) })
		k.Sessions = slices.Insert(k.Sessions, i, s)
	} else {
		s = k.Sessions[hit[0]]
		for _, j := range hit[1:] { // later sessions, in start order
			o2 := k.Sessions[j]
			o.plan.Merge(s.G, o2.G)
			s.Last = max(s.Last, o2.Last)
			s.Fired = s.Fired || o2.Fired
		}
		for n := len(hit) - 1; n >= 1; n-- {
			k.Sessions = slices.Delete(k.Sessions, hit[n], hit[n]+1)
		}
		s.Start, s.Last = min(s.Start, t), max(s.Last, t)
	}
	o.plan.Add(s.G, p, t)
	if fired || tooLate {
		s.Fired, s.Dirty = true, true
		o.dirty = true
	} else {
		o.due = min(o.due, o.end(s))
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (o *sessionOp) Epoch(proc int64) { o.wm.Epoch(proc) }

type sessionOut struct {
	key string
	s   *session
	k   *sessionKey
}

func (o *sessionOp) Advance(proc int64, emit emitFunc) {
	wm := o.wm.Advance(proc)
	if wm == window.None {
		return
	}
	if wm < o.due && wm < o.release && !o.dirty {
		o.fired = wm
		return
	}
	var outs []sessionOut
	o.due, o.release = math.MaxInt64, math.MaxInt64
	for key, k := range o.keys {
		kept := k.Sessions[:0]
		for _, s := range k.Sessions {
			end := o.end(s)
			if (!s.Fired && end <= wm) || s.Dirty {
				outs = append(outs, sessionOut{key, s, k})
				s.Fired, s.Dirty = true, false
			}
			if s.Fired && end+o.lateness <= wm {
				continue // emitted above if due; no longer held
			}
			if s.Fired {
				o.release = min(o.release, end+o.lateness)
			} else {
				o.due = min(o.due, end)
			}
			kept = append(kept, s)
		}
		clear(k.Sessions[len(kept):])
		k.Sessions = kept
		if len(kept) == 0 {
			delete(o.keys, key)
		}
	}
	o.dirty = false
	slices.SortFunc(outs, func(a, b sessionOut) int {
		if c := cmpInt(a.s.Start, b.s.Start); c != 0 {
			return c
		}
		return cmpStr(a.key, b.key)
	})
	for _, so := range outs {
		if o.plan.Empty(so.s.G) {
			continue
		}
		o.out = point.Point{Measurement: o.name, Time: so.s.Start, Tags: append(o.out.Tags[:0], so.k.Tags...), Fields: o.out.Fields[:0]}
		o.out.Fields = o.plan.AppendFields(o.out.Fields, so.s.G)
		if v, ok := lineprotocol.FloatValue(float64(so.s.Last-so.s.Start) / 1e9); ok {
			o.out.Fields = append(o.out.Fields, point.Field{Key: "session_s", Value: v})
		}
		emit(&o.out)
	}
	o.fired = wm
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (o *sessionOp) Len() (windows, series int) {
	for _, k := range o.keys {
		windows += len(k.Sessions)
	}
	return windows, len(o.keys)
}

func (o *sessionOp) Counts() opCounts { return o.counts }

type sessionState struct {
	Watermark window.Watermark       `json:"watermark"`
	Fired     int64                  `json:"fired"`
	Keys      map[string]*sessionKey `json:"keys"`
	Counts    opCounts               `json:"counts"`
}

func (o *sessionOp) MarshalJSON() ([]byte, error) {
	// encoding/json writes map keys sorted: the output is deterministic.
	return json.Marshal(&sessionState{Watermark: o.wm, Fired: o.fired, Keys: o.keys, Counts: o.counts})
}

func (o *sessionOp) UnmarshalJSON(data []byte) error {
	var st sessionState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	o.wm.MaxEvent, o.wm.Active, o.wm.Value = st.Watermark.MaxEvent, st.Watermark.Active, st.Watermark.Value
	o.fired, o.counts = st.Fired, st.Counts
	if st.Keys != nil {
		o.keys = st.Keys
	}
	o.due, o.release = math.MaxInt64, math.MaxInt64
	for _, k := range o.keys {
		for _, s := range k.Sessions {
			if s.Dirty {
				o.dirty = true
			}
			if s.Fired {
				o.release = min(o.release, o.end(s)+o.lateness)
			} else {
				o.due = min(o.due, o.end(s))
			}
		}
	}
	return nil
}

func (o *sessionOp) summary() (*window.Watermark, []WindowSummary) {
	wm := o.wm
	return &wm, nil
}
