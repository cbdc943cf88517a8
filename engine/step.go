package engine

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/series"
	"github.com/rivulet-edge/rivulet/transform"
	"github.com/rivulet-edge/rivulet/window"
)

// step runs one pipeline step: the input filter and stateless operators,
// then the step's operator (none for a transform step). Its output goes to
// its sinks and to the steps that read from it.
type step struct {
	cfg         StepConfig // as built, for reset
	name        string
	kind        string
	sig         string
	sigV1       string // the signature a version 1 checkpoint used
	measurement string
	prog        *transform.Program // nil without stateless operators
	op          operator           // nil for a transform step
	to, passTo  []string
	lateTo      []string
	consumers   []*step
	// errors counts points the stateless operators failed on.
	errors uint64

	// emitFn is s.emit bound once: a method value passed on each call
	// would be allocated each time.
	emitFn, transformedFn emitFunc
	// the current input's event time, for the transform callback
	curT, curProc int64
	eng           *Engine
}

func newStep(e *Engine, c StepConfig) (*step, error) {
	c = c.normalized()
	s := &step{cfg: c, name: c.Name, kind: c.Kind(), sig: signature(c), sigV1: sigV1(c), measurement: c.Measurement,
		to: slices.Clone(c.To), passTo: slices.Clone(c.PassTo), lateTo: slices.Clone(c.Window.LateTo), eng: e}
	if tc := c.Transform(); !tc.Empty() {
		prog, err := transform.Compile(tc)
		if err != nil {
			return nil, err
		}
		s.prog = prog
	}
	s.emitFn, s.transformedFn = s.emit, s.transformed
	var side emitFunc
	if len(s.lateTo) > 0 {
		side = func(p *point.Point) { e.route(s.lateTo, p) }
	}
	var err error
	switch s.kind {
	case KindWindow:
		switch c.Window.Kind() {
		case window.KindSession:
			s.op, err = newSessionOp(c, side)
		case window.KindCount:
			s.op, err = newCountOp(c)
		default:
			if c.Window.Watermark == window.WatermarkGroup {
				s.op, err = newGroupWMOp(c, side)
			} else {
				s.op, err = newGridOp(c, side)
			}
		}
	case KindStateful:
		var o *series.Op
		o, err = series.New(c.Name, *c.Stateful)
		s.op = seriesOp{o}
	case KindDetect:
		var o *detect.Op
		o, err = detect.New(c.Name, *c.Detect)
		s.op = detectOp{o}
	}
	if err != nil {
		return nil, err
	}
	if g, ok := s.op.(*gridOp); ok {
		g.expect = s.expect
	}
	return s, nil
}

// expect tells the step's sinks that n results are about to come (a
// window emitting its groups), so that their queues grow once to the
// size of the burst; see pendingOut.want.
func (s *step) expect(n int) {
	for _, sink := range s.to {
		s.eng.pendingFor(sink).expect += n
	}
}

// reset replaces the step's operator with a fresh one, dropping its state.
func (s *step) reset() error {
	fresh, err := newStep(s.eng, s.cfg)
	if err != nil {
		return err
	}
	s.op = fresh.op
	return nil
}

// normalized fills the keys a config file always sets but a StepConfig
// built in code may leave zero.
func (c StepConfig) normalized() StepConfig {
	if c.MaxSeries <= 0 {
		c.MaxSeries = math.MaxInt
	}
	if c.StateTTL <= 0 {
		c.StateTTL = DefaultStep().StateTTL
	}
	if c.Window.Late == "" {
		c.Window.Late = window.LateDrop
	}
	if c.Fill == "" {
		c.Fill = "none"
	}
	return c
}

// signature identifies what a step's state means: its input, its kind and
// the settings that shape its state. A checkpointed step is restored only
// into a step with the same signature; delays, sinks and output settings
// may change freely.
func signature(c StepConfig) string {
	parts := []string{c.Source(), c.Measurement, c.Kind(), fmt.Sprint(c.Transform())}
	switch c.Kind() {
	case KindWindow:
		w := c.Window
		parts = append(parts, w.Kind(), fmt.Sprint(w.Size, w.Slide, w.Gap, w.MaxDuration, w.Points, w.Every, w.Offset, w.TimeZone, w.Watermark),
			strings.Join(c.GroupBy, ","), strings.Join(c.aggregates(), ","))
	case KindStateful:
		parts = append(parts, sigValue(reflect.ValueOf(c.Stateful)))
	case KindDetect:
		// The detector kind and the field: detect.Op restores its alert
		// states across any other change of settings (and relearns).
		parts = append(parts, c.Detect.Field)
		v := reflect.ValueOf(*c.Detect)
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
				parts = append(parts, v.Type().Field(i).Name+sigValue(f.Elem().FieldByName("Field")))
			}
		}
	}
	return strings.Join(parts, "|")
}

// sigValue renders a config value for a signature, following pointers:
// fmt would print their addresses, which differ in every process, and a
// restart would then drop the step's state.
func sigValue(v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		return sigValue(v.Elem())
	case reflect.Struct:
		var b strings.Builder
		b.WriteByte('{')
		for i := range v.NumField() {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(v.Type().Field(i).Name + ":" + sigValue(v.Field(i)))
		}
		b.WriteByte('}')
		return b.String()
	}
	if !v.CanInterface() {
		return "?"
	}
	return fmt.Sprint(v.Interface())
}

// in receives one point of the step's input stream with event time t.
func (s *step) in(p *point.Point, t, proc int64) {
	if s.measurement != "" && p.Measurement != s.measurement {
		return
	}
	if s.prog == nil {
		s.process(p, t, proc)
		return
	}
	s.curT, s.curProc = t, proc
	if err := s.prog.Apply(p, s.transformedFn); err != nil {
		s.errors++
	}
}

func (s *step) transformed(q *point.Point) {
	t := q.Time
	if t == 0 {
		t = s.curT
	}
	s.process(q, t, s.curProc)
}

// process runs one point through the step's operator.
func (s *step) process(p *point.Point, t, proc int64) {
	if len(s.passTo) > 0 {
		s.eng.routeAt(s.passTo, p, t)
	}
	if s.op == nil {
		s.output(p, t)
		return
	}
	s.op.Add(p, t, proc, s.emitFn)
}

// emit is the emitFunc of the step's operator.
func (s *step) emit(p *point.Point) { s.output(p, p.Time) }

// output sends a point of the step's output stream to its sinks and to the
// steps that read it.
func (s *step) output(p *point.Point, t int64) {
	s.eng.routeAt(s.to, p, t)
	for _, c := range s.consumers {
		c.in(p, t, s.eng.proc)
	}
}

// advance fires what is due at proc; results flow downstream at once, so
// later steps see them before their own advance.
func (s *step) advance(proc int64) {
	if s.op != nil {
		s.op.Advance(proc, s.emitFn)
	}
}

func (s *step) len() (windows, series int) {
	if s.op == nil {
		return 0, 0
	}
	return s.op.Len()
}

func (s *step) counts() opCounts {
	if s.op == nil {
		return opCounts{}
	}
	return s.op.Counts()
}

// seriesOp adapts a series.Op to operator.
type seriesOp struct{ *series.Op }

func (o seriesOp) Len() (int, int) { return 0, o.Op.Len() }
func (o seriesOp) Counts() opCounts {
	return opCounts{Refused: o.Op.Dropped(), Expired: o.Op.Expired(), OutOfOrder: o.Op.OutOfOrder()}
}
func (o seriesOp) Add(p *point.Point, t, proc int64, emit emitFunc) { o.Op.Add(p, t, proc, emit) }
func (o seriesOp) Advance(proc int64, emit emitFunc)                { o.Op.Advance(proc, emit) }

// detectOp adapts a detect.Op to operator.
type detectOp struct{ *detect.Op }

func (o detectOp) Len() (int, int)                                  { return 0, o.Op.Len() }
func (o detectOp) Counts() opCounts                                 { return opCounts{Refused: o.Op.Dropped()} }
func (o detectOp) Add(p *point.Point, t, proc int64, emit emitFunc) { o.Op.Add(p, t, proc, emit) }
func (o detectOp) Advance(proc int64, emit emitFunc)                { o.Op.Advance(proc, emit) }
