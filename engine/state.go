package engine

import (
	"encoding/json"
	"fmt"

	"github.com/rivulet-edge/rivulet/window"
)

// stateVersion is bumped when the checkpoint layout changes incompatibly.
// Version 1 (tumbling windows only) is still read: see restoreV1.
const stateVersion = 2

// state is the checkpointed engine state: everything results depend on.
type state struct {
	Version int         `json:"version"`
	Index   uint64      `json:"index"`
	Proc    int64       `json:"proc"`
	Steps   []stepState `json:"steps"`
}

type stepState struct {
	Name string `json:"name"`
	Sig  string `json:"sig"`
	Kind string `json:"kind"`
	// Summary fields, for inspect: written with the state, never read back
	// by the engine.
	Watermark *window.Watermark `json:"watermark,omitempty"`
	Late      uint64            `json:"late"`
	Windows   []WindowSummary   `json:"windows,omitempty"`
	Series    int               `json:"series"`
	// State is the operator's own checkpoint.
	State json.RawMessage `json:"state,omitempty"`
}

// summarizer is implemented by operators with a watermark and windows.
type summarizer interface {
	summary() (*window.Watermark, []WindowSummary)
}

func (e *Engine) snapshot(idx uint64) ([]byte, error) {
	st := state{Version: stateVersion, Index: idx, Proc: e.proc}
	for _, s := range e.steps {
		ss := stepState{Name: s.name, Sig: s.sig, Kind: s.kind, Late: s.counts().late()}
		_, ss.Series = s.len()
		if s.op != nil {
			if sm, ok := s.op.(summarizer); ok {
				ss.Watermark, ss.Windows = sm.summary()
			}
			data, err := s.op.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("encode checkpoint of step %s: %w", s.name, err)
			}
			ss.State = data
		}
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
	switch st.Version {
	case 1:
		return e.restoreV1(data)
	case stateVersion:
	default:
		return fmt.Errorf("state version %d, this build reads up to %d", st.Version, stateVersion)
	}
	e.proc = st.Proc
	byName := map[string]*step{}
	for _, s := range e.steps {
		byName[s.name] = s
	}
	for _, ss := range st.Steps {
		s := byName[ss.Name]
		switch {
		case s == nil:
			e.logger.Warn("checkpoint holds a step that is no longer configured; its state is dropped", "step", ss.Name)
		case ss.Sig != s.sig:
			e.logger.Warn("step changed its input, kind or state settings; it starts with no state", "step", ss.Name)
		case s.op != nil && len(ss.State) > 0:
			if err := s.op.UnmarshalJSON(ss.State); err != nil {
				// A state this build cannot take must not keep the agent
				// from starting: the step starts empty, said loudly.
				e.logger.Error("cannot restore the step's state; it starts with no state", "step", ss.Name, "err", err)
				if err := s.reset(); err != nil {
					return fmt.Errorf("step %s: %w", ss.Name, err)
				}
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
	Name string
	Kind string
	// Series is the number of keyed states the step holds.
	Series    int
	Watermark window.Watermark
	Late      uint64
	Windows   []WindowSummary
}

// WindowSummary is one open window: its start and how many groups (series)
// it holds.
type WindowSummary struct {
	Start  int64 `json:"start"`
	Series int   `json:"series"`
}

// Summarize decodes checkpoint state as saved by the engine.
func Summarize(data []byte) (*Summary, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode engine state: %w", err)
	}
	if st.Version == 1 {
		return summarizeV1(data)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("engine state version %d, this build reads up to %d", st.Version, stateVersion)
	}
	sum := &Summary{Index: st.Index, Proc: st.Proc}
	for _, ss := range st.Steps {
		step := StepSummary{Name: ss.Name, Kind: ss.Kind, Late: ss.Late, Series: ss.Series, Windows: ss.Windows}
		if ss.Watermark != nil {
			step.Watermark = *ss.Watermark
		} else {
			step.Watermark = window.NewWatermark(0, 0)
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
		if len(st.Windows) == 0 {
			series += st.Series
		}
	}
	return windows, series
}
