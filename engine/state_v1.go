package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/window"
)

// Version 1 checkpoints come from builds with tumbling windows only. They
// are read so that an upgrade keeps its open windows: each v1 step becomes
// the state of a tumbling window step with the same input, size and
// grouping and only the basic aggregates, which v1 stored for every field.

type stateV1 struct {
	Index uint64        `json:"index"`
	Proc  int64         `json:"proc"`
	Steps []stepStateV1 `json:"steps"`
}

type stepStateV1 struct {
	Name      string           `json:"name"`
	Sig       string           `json:"sig"`
	Watermark window.Watermark `json:"watermark"`
	Late      uint64           `json:"late"`
	Windows   []struct {
		Start  int64      `json:"start"`
		Keys   []string   `json:"keys"`
		Groups []*groupV1 `json:"groups"`
	} `json:"windows"`
}

type groupV1 struct {
	Tags   []point.Tag          `json:"tags,omitempty"`
	Fields map[string]ops.State `json:"fields"`
}

var basicAggregates = []string{"count", "sum", "mean", "min", "max", "first", "last"}

// sigV1 is the v1 signature of a step, or "" when a v1 checkpoint cannot
// hold its state.
func sigV1(c StepConfig) string {
	c = c.normalized()
	if c.Kind() != KindWindow || c.Window.Kind() != window.KindTumbling || c.Source() != Input ||
		!c.Transform().Empty() || c.Window.Offset != 0 || c.Window.TimeZone != "" {
		return ""
	}
	for _, a := range c.aggregates() {
		if !slices.Contains(basicAggregates, a) {
			return ""
		}
	}
	return fmt.Sprintf("%s|tumbling|%d|%s", c.Measurement, c.Window.Size, strings.Join(c.GroupBy, ","))
}

func (e *Engine) restoreV1(data []byte) error {
	var st stateV1
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("decode version 1: %w", err)
	}
	e.proc = st.Proc
	for _, ss := range st.Steps {
		var s *step
		for _, c := range e.steps {
			if c.name == ss.Name {
				s = c
			}
		}
		g, ok := stepOp[*gridOp](s)
		switch {
		case s == nil:
			e.logger.Warn("checkpoint holds a step that is no longer configured; its state is dropped", "step", ss.Name)
			continue
		case !ok || s.sigV1 == "" || s.sigV1 != ss.Sig:
			e.logger.Warn("step changed its input, kind or state settings; it starts with no state", "step", ss.Name)
			continue
		}
		g.wm.MaxEvent, g.wm.Active, g.wm.Value = ss.Watermark.MaxEvent, ss.Watermark.Active, ss.Watermark.Value
		g.fired = ss.Watermark.Value
		g.counts.LateDropped = ss.Late
		for _, w := range ss.Windows {
			pane := map[string]*ops.Group{}
			for i, key := range w.Keys {
				old := w.Groups[i]
				ng := &ops.Group{Tags: old.Tags}
				for _, name := range sortedKeys(old.Fields) {
					ng.Fields = append(ng.Fields, ops.FieldState{Key: name, State: old.Fields[name]})
				}
				pane[key] = ng
			}
			g.panes[w.Start] = pane
			g.noteDue(w.Start)
		}
	}
	return nil
}

// stepOp returns s's operator as a T.
func stepOp[T operator](s *step) (T, bool) {
	var zero T
	if s == nil {
		return zero, false
	}
	o, ok := s.op.(T)
	return o, ok
}

func summarizeV1(data []byte) (*Summary, error) {
	var st stateV1
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode engine state: %w", err)
	}
	sum := &Summary{Index: st.Index, Proc: st.Proc}
	for _, ss := range st.Steps {
		step := StepSummary{Name: ss.Name, Kind: KindWindow, Watermark: ss.Watermark, Late: ss.Late}
		for _, w := range ss.Windows {
			step.Windows = append(step.Windows, WindowSummary{Start: w.Start, Series: len(w.Keys)})
		}
		sum.Steps = append(sum.Steps, step)
	}
	return sum, nil
}
