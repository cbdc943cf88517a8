package engine

import (
	"encoding/json"
	"slices"

	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
)

// countOp runs count windows: per group, a result every `every` points over
// the last `points` points, in log order. Panes of `every` points make the
// sliding case cheap. A result's time is the event time of the window's
// last point. A group silent for state_ttl of processing time is dropped
// with its partial window, and counted.
type countOp struct {
	name      string
	plan      *ops.Plan
	groupBy   []string
	panes     int // panes per window
	every     int
	ttl       int64
	maxSeries int

	keys   map[string]*countKey
	sweep  int64 // processing time of the last TTL sweep
	counts opCounts

	keyBuf []byte
	out    point.Point
}

type countKey struct {
	Tags  []point.Tag  `json:"tags,omitempty"`
	Panes []*ops.Group `json:"panes,omitempty"` // full panes, oldest first
	Cur   *ops.Group   `json:"cur"`
	N     int          `json:"n"`    // points in Cur
	Seen  int64        `json:"seen"` // processing time of the last point
}

func newCountOp(c StepConfig) (*countOp, error) {
	plan, err := ops.NewPlan(c.aggregates())
	if err != nil {
		return nil, err
	}
	every := c.Window.Every
	if every == 0 {
		every = c.Window.Points
	}
	return &countOp{name: c.Name, plan: plan, groupBy: c.GroupBy, panes: c.Window.Points / every, every: every,
		ttl: int64(c.StateTTL), maxSeries: c.MaxSeries, keys: map[string]*countKey{}}, nil
}

func (o *countOp) Add(p *point.Point, t, proc int64, emit emitFunc) {
	o.keyBuf = appendGroupKey(o.keyBuf[:0], o.groupBy, p)
	k := o.keys[string(o.keyBuf)]
	if k == nil {
		if len(o.keys) >= o.maxSeries {
			o.counts.Refused++
			return
		}
		tags := groupTags(o.groupBy, p)
		k = &countKey{Tags: tags, Cur: o.plan.NewGroup(tags)}
		o.keys[string(o.keyBuf)] = k
	}
	k.Seen = proc
	o.plan.Add(k.Cur, p, t)
	k.N++
	if k.N < o.every {
		return
	}
	k.Panes = append(k.Panes, k.Cur)
	k.Cur, k.N = o.plan.NewGroup(k.Tags), 0
	if len(k.Panes) < o.panes {
		return
	}
	g := k.Panes[0]
	if len(k.Panes) > 1 {
		g = o.plan.Clone(g)
		for _, pg := range k.Panes[1:] {
			o.plan.Merge(g, pg)
		}
	}
	k.Panes = slices.Delete(k.Panes, 0, 1)
	if o.plan.Empty(g) {
		return
	}
	o.out = point.Point{Measurement: o.name, Time: t, Tags: append(o.out.Tags[:0], k.Tags...), Fields: o.out.Fields[:0]}
	o.out.Fields = o.plan.AppendFields(o.out.Fields, g)
	emit(&o.out)
}

// Advance drops groups silent for the TTL, sweeping at most once per
// quarter TTL of processing time.
func (o *countOp) Advance(proc int64, _ emitFunc) {
	if proc-o.sweep < o.ttl/4 {
		return
	}
	o.sweep = proc
	for key, k := range o.keys {
		if proc-k.Seen > o.ttl {
			delete(o.keys, key)
			o.counts.Expired++
		}
	}
}

func (o *countOp) Epoch(int64) {}

func (o *countOp) Len() (windows, series int) { return len(o.keys), len(o.keys) }

func (o *countOp) Counts() opCounts { return o.counts }

type countState struct {
	Keys   map[string]*countKey `json:"keys"`
	Sweep  int64                `json:"sweep"`
	Counts opCounts             `json:"counts"`
}

func (o *countOp) MarshalJSON() ([]byte, error) {
	return json.Marshal(&countState{Keys: o.keys, Sweep: o.sweep, Counts: o.counts})
}

func (o *countOp) UnmarshalJSON(data []byte) error {
	var st countState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	if st.Keys != nil {
		o.keys = st.Keys
	}
	o.sweep, o.counts = st.Sweep, st.Counts
	return nil
}
