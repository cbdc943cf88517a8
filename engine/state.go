package engine

import (
	"encoding/json"
	"fmt"

	"github.com/rivulet-edge/rivulet/window"
)

// stateVersion is bumped when the checkpoint layout changes incompatibly.
const stateVersion = 1

// state is the checkpointed engine state: everything results depend on.
type state struct {
	Version int         `json:"version"`
	Index   uint64      `json:"index"`
	Proc    int64       `json:"proc"`
	Steps   []stepState `json:"steps"`
}

type stepState struct {
	Name      string           `json:"name"`
	Sig       string           `json:"sig"`
	Watermark window.Watermark `json:"watermark"`
	Late      uint64           `json:"late"`
	Windows   []windowState    `json:"windows"`
}

type windowState struct {
	Start  int64    `json:"start"`
	Keys   []string `json:"keys"`
	Groups []*group `json:"groups"`
}

func (e *Engine) snapshot(idx uint64) ([]byte, error) {
	st := state{Version: stateVersion, Index: idx, Proc: e.proc}
	for _, s := range e.steps {
		ss := stepState{Name: s.name, Sig: s.sig, Watermark: s.wm, Late: s.late}
		s.set.Each(func(start int64, key string, g *group) {
			if n := len(ss.Windows); n == 0 || ss.Windows[n-1].Start != start {
				ss.Windows = append(ss.Windows, windowState{Start: start})
			}
			w := &ss.Windows[len(ss.Windows)-1]
			w.Keys = append(w.Keys, key)
			w.Groups = append(w.Groups, g)
		})
		st.Steps = append(st.Steps, ss)
	}
	data, err := json.Marshal(&st)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	return data, nil
}

// restore loads a checkpoint. Steps are matched by name; a step that is new
// in the config starts empty, a step that is gone is dropped with a log line.
func (e *Engine) restore(data []byte) error {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("state version %d, this build reads %d", st.Version, stateVersion)
	}
	e.proc = st.Proc
	byName := map[string]*step{}
	for _, s := range e.steps {
		byName[s.name] = s
	}
	for _, ss := range st.Steps {
		s := byName[ss.Name]
		if s == nil {
			e.logger.Warn("checkpoint holds a step that is no longer configured; its open windows are dropped", "step", ss.Name)
			continue
		}
		if ss.Sig != s.sig {
			e.logger.Warn("step changed its input, window or grouping; it starts with no open windows", "step", ss.Name)
			continue
		}
		// The window sizes and delays come from the config; the progress
		// comes from the checkpoint.
		s.wm.MaxEvent, s.wm.Active, s.wm.Value = ss.Watermark.MaxEvent, ss.Watermark.Active, ss.Watermark.Value
		s.late = ss.Late
		for _, w := range ss.Windows {
			for i, key := range w.Keys {
				g := w.Groups[i]
				s.set.Get(w.Start, key, func() *group { return g })
			}
		}
	}
	return nil
}

// Summary describes a checkpoint for people and tools: the progress and the
// open windows of each step. It is read from the same state the engine
// restores, so the two cannot drift apart.
type Summary struct {
	Index uint64
	Proc  int64
	Steps []StepSummary
}

// StepSummary is one step of a Summary.
type StepSummary struct {
	Name      string
	Watermark window.Watermark
	Late      uint64
	Windows   []WindowSummary
}

// WindowSummary is one open window: its start and how many groups (series)
// it holds.
type WindowSummary struct {
	Start  int64
	Series int
}

// Summarize decodes checkpoint state as saved by the engine.
func Summarize(data []byte) (*Summary, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode engine state: %w", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("engine state version %d, this build reads %d", st.Version, stateVersion)
	}
	sum := &Summary{Index: st.Index, Proc: st.Proc}
	for _, ss := range st.Steps {
		step := StepSummary{Name: ss.Name, Watermark: ss.Watermark, Late: ss.Late}
		for _, w := range ss.Windows {
			step.Windows = append(step.Windows, WindowSummary{Start: w.Start, Series: len(w.Keys)})
		}
		sum.Steps = append(sum.Steps, step)
	}
	return sum, nil
}

// Open counts the open windows and the series in them over all steps.
func (s *Summary) Open() (windows, series int) {
	for _, st := range s.Steps {
		windows += len(st.Windows)
		for _, w := range st.Windows {
			series += w.Series
		}
	}
	return windows, series
}
