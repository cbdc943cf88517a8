package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/window"
)

// step runs one pipeline step: input filter, tumbling event-time windows
// keyed by the group_by tags, incremental aggregates per numeric field.
type step struct {
	name        string
	sig         string
	measurement string
	groupBy     []string
	aggs        []ops.Agg
	to          []string
	win         window.Tumbling
	wm          window.Watermark
	set         *window.Set[*group]
	late        uint64
	scratch     []fieldValue
	keyBuf      []byte
}

// group is the state of one window for one group of series.
type group struct {
	Tags   []point.Tag           `json:"tags,omitempty"`
	Fields map[string]*ops.State `json:"fields"`
}

type fieldValue struct {
	key string
	v   float64
}

func newStep(c StepConfig) *step {
	s := &step{
		name:        c.Name,
		sig:         signature(c),
		measurement: c.Measurement,
		groupBy:     c.GroupBy,
		to:          c.To,
		win:         window.NewTumbling(c.Window.Size),
		wm:          window.NewWatermark(c.Window.MaxDelay, c.Window.IdleTimeout),
		set:         window.NewSet[*group](),
	}
	for _, name := range c.Aggregates {
		a, _ := ops.ParseAgg(name) // validated by StepConfig.Validate
		s.aggs = append(s.aggs, a)
	}
	return s
}

// signature identifies what a step's open windows mean: the input, the
// window kind and size and the grouping. A checkpointed step is restored
// only into a step with the same signature; delays, aggregates and sinks
// may change freely, since the window state holds every aggregate.
func signature(c StepConfig) string {
	return fmt.Sprintf("%s|%s|%d|%s", c.Measurement, c.Window.Type, c.Window.Size, strings.Join(c.GroupBy, ","))
}

// add folds point p with event time t, seen at processing time proc, into
// its window. A point whose window has already fired is late: counted and
// dropped. p's strings may be borrowed (point.Decoder): add copies those it
// keeps, when it creates a group or a field state.
func (s *step) add(p *point.Point, t, proc int64) {
	if s.measurement != "" && p.Measurement != s.measurement {
		return
	}
	s.wm.Observe(t, proc)
	start := s.win.Start(t)
	if s.wm.Value != window.None && s.win.End(start) <= s.wm.Value {
		s.late++
		return
	}
	s.scratch = s.scratch[:0]
	for _, f := range p.Fields {
		if v, ok := point.Float(f.Value); ok {
			s.scratch = append(s.scratch, fieldValue{f.Key, v})
		}
	}
	if len(s.scratch) == 0 {
		return
	}
	s.keyBuf = s.appendKey(s.keyBuf[:0], p)
	g := s.set.GetBytes(start, s.keyBuf, func() *group { return s.newGroup(p) })
	for _, fv := range s.scratch {
		st := g.Fields[fv.key]
		if st == nil {
			st = &ops.State{}
			g.Fields[strings.Clone(fv.key)] = st
		}
		st.Add(fv.v, t)
	}
}

// appendKey appends the key of p's group to b: the values of the group_by
// tags, with absent tags distinct from empty ones.
func (s *step) appendKey(b []byte, p *point.Point) []byte {
	for _, k := range s.groupBy {
		if v, ok := p.Tag(k); ok {
			b = append(b, 1)
			b = append(b, v...)
		}
		b = append(b, 0)
	}
	return b
}

func (s *step) newGroup(p *point.Point) *group {
	g := &group{Fields: map[string]*ops.State{}}
	for _, k := range s.groupBy {
		if v, ok := p.Tag(k); ok {
			g.Tags = append(g.Tags, point.Tag{Key: k, Value: strings.Clone(v)})
		}
	}
	sort.Slice(g.Tags, func(i, j int) bool { return g.Tags[i].Key < g.Tags[j].Key })
	return g
}

// fire advances the watermark to processing time proc and emits every
// window that it closes, in window then group order.
func (s *step) fire(proc int64, site string, emit func(*point.Point)) {
	wm := s.wm.Advance(proc)
	if wm == window.None {
		return
	}
	s.set.Fire(wm, s.win.End, func(start int64, _ string, g *group) {
		p := s.result(start, site, g)
		if len(p.Fields) > 0 {
			emit(&p)
		}
	})
}

// result builds the point of one closed window: measurement = step name,
// tags = group tags + site, fields <field>_<agg>, time = window start.
func (s *step) result(start int64, site string, g *group) point.Point {
	p := point.Point{Measurement: s.name, Time: start}
	p.Tags = append(p.Tags, g.Tags...)
	if site != "" {
		p.SetTag("site", site)
	}
	names := make([]string, 0, len(g.Fields))
	for k := range g.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		st := g.Fields[name]
		for _, a := range s.aggs {
			if a == ops.Count {
				p.AddField(name+"_count", lineprotocol.IntValue(st.N))
				continue
			}
			if v, ok := lineprotocol.FloatValue(st.Value(a)); ok {
				p.AddField(name+"_"+a.String(), v)
			}
		}
	}
	return p
}
