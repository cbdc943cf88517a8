package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/window"
)

// groupWMOp runs tumbling or hopping windows with one watermark per group
// (window.watermark: group): each group is a gridOp of its own, so a
// device whose clock lags or whose data arrives in bursts does not make the
// other groups' points late, nor do they make its points late.
//
// Advance visits the groups that got data in this entry, and all groups at
// most once per quarter of the idle timeout of processing time (that is
// when idleness can move a watermark), so its cost does not grow with the
// number of groups on every entry. Results of one Advance are emitted in
// window start order, then group key order.
type groupWMOp struct {
	cfg     StepConfig
	side    emitFunc
	groups  map[string]*gridOp
	touched map[string]bool
	sweep   int64 // processing time of the last full visit
	idle    int64
	refused uint64

	keyBuf []byte
	outs   []groupOut
}

type groupOut struct {
	key string
	p   point.Point
}

func newGroupWMOp(c StepConfig, side emitFunc) (*groupWMOp, error) {
	if _, err := newGridOp(c, side); err != nil { // check the config once
		return nil, err
	}
	return &groupWMOp{cfg: c, side: side, groups: map[string]*gridOp{}, touched: map[string]bool{},
		idle: int64(c.Window.IdleTimeout), sweep: window.None}, nil
}

func (o *groupWMOp) group(key []byte) (*gridOp, bool) {
	if g, ok := o.groups[string(key)]; ok {
		return g, true
	}
	if len(o.groups) >= o.cfg.MaxSeries {
		return nil, false
	}
	g, _ := newGridOp(o.cfg, o.side) // checked in newGroupWMOp
	o.groups[string(key)] = g
	return g, true
}

func (o *groupWMOp) Add(p *point.Point, t, proc int64, emit emitFunc) {
	o.keyBuf = appendGroupKey(o.keyBuf[:0], o.cfg.GroupBy, p)
	g, ok := o.group(o.keyBuf)
	if !ok {
		o.refused++
		return
	}
	g.Add(p, t, proc, emit)
	if !o.touched[string(o.keyBuf)] {
		o.touched[string(o.keyBuf)] = true
	}
}

func (o *groupWMOp) Epoch(proc int64) {
	for _, g := range o.groups {
		g.Epoch(proc)
	}
}

func (o *groupWMOp) Advance(proc int64, emit emitFunc) {
	keys := make([]string, 0, len(o.touched))
	if o.sweep == window.None || o.idle == 0 || proc-o.sweep >= max(o.idle/4, 1) {
		o.sweep = proc
		for k := range o.groups {
			keys = append(keys, k)
		}
	} else {
		for k := range o.touched {
			keys = append(keys, k)
		}
	}
	clear(o.touched)
	slices.Sort(keys)
	o.outs = o.outs[:0]
	for _, k := range keys {
		o.groups[k].Advance(proc, func(p *point.Point) {
			o.outs = append(o.outs, groupOut{key: k, p: p.Clone()})
		})
	}
	slices.SortStableFunc(o.outs, func(a, b groupOut) int {
		if c := cmpInt(a.p.Time, b.p.Time); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for i := range o.outs {
		emit(&o.outs[i].p)
	}
	// A group with nothing open and fill off holds only its watermark;
	// keep it (its watermark is what makes its late points late).
}

func (o *groupWMOp) Len() (windows, series int) {
	for _, g := range o.groups {
		w, s := g.Len()
		windows, series = windows+w, series+s
	}
	return windows, series
}

func (o *groupWMOp) Counts() opCounts {
	c := opCounts{Refused: o.refused}
	for _, g := range o.groups {
		gc := g.Counts()
		c.LateDropped += gc.LateDropped
		c.LateUpdated += gc.LateUpdated
		c.LateSide += gc.LateSide
		c.Refused += gc.Refused
	}
	return c
}

type groupWMState struct {
	Groups  map[string]json.RawMessage `json:"groups"`
	Sweep   int64                      `json:"sweep"`
	Refused uint64                     `json:"refused"`
}

func (o *groupWMOp) MarshalJSON() ([]byte, error) {
	st := groupWMState{Groups: map[string]json.RawMessage{}, Sweep: o.sweep, Refused: o.refused}
	for k, g := range o.groups {
		data, err := g.MarshalJSON()
		if err != nil {
			return nil, err
		}
		st.Groups[k] = data
	}
	return json.Marshal(&st)
}

func (o *groupWMOp) UnmarshalJSON(data []byte) error {
	var st groupWMState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	o.sweep, o.refused = st.Sweep, st.Refused
	for k, raw := range st.Groups {
		g, _ := newGridOp(o.cfg, o.side)
		if err := g.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("group %q: %w", k, err)
		}
		o.groups[k] = g
	}
	return nil
}
