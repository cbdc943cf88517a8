package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/window"
)

// stateVersion is bumped when the checkpoint layout changes incompatibly.
// Version 1 (tumbling windows only) is still read: see restoreV1. Either
// version is read plain or gzip-compressed (see snapshot); this build
// writes version 2 compressed.
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

// stateWriter is implemented by operators that stream their checkpoint:
// WriteJSON writes the bytes MarshalJSON would return without building
// them as one slice.
type stateWriter interface {
	WriteJSON(w io.Writer) error
}

// A checkpoint's state is the JSON of state, gzip-compressed (level
// BestSpeed, no name or time in the header, so the same state gives the
// same bytes). Plain JSON, as written before, is still read: the two are
// told apart by gzip's magic bytes, which no JSON text starts with. The
// JSON is streamed into the compressor, a group at a time for the
// operators that implement stateWriter, so that a checkpoint's memory is
// its compressed size rather than several copies of its JSON.
var gzipMagic = []byte{0x1f, 0x8b}

// zipPool holds gzip writers: each holds about a megabyte of tables.
var zipPool sync.Pool

func (e *Engine) snapshot(idx uint64) ([]byte, error) {
	var out bytes.Buffer
	zw, _ := zipPool.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(&out, gzip.BestSpeed); err != nil {
			return nil, fmt.Errorf("encode checkpoint: %w", err)
		}
	} else {
		zw.Reset(&out)
	}
	defer func() {
		zw.Reset(io.Discard) // not to keep out alive in the pool
		zipPool.Put(zw)
	}()
	bw := bufio.NewWriterSize(zw, 32<<10)
	if err := e.writeState(bw, idx); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	return out.Bytes(), nil
}

// writeState writes the JSON of the engine's state after idx to w: the
// bytes json.Marshal gives for a state with every step's State filled.
func (e *Engine) writeState(w io.Writer, idx uint64) error {
	head, err := json.Marshal(&state{Version: stateVersion, Index: idx, Proc: e.proc})
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	jw := jsonWriter{w: w}
	// head ends with "steps":null}: the steps go in its place.
	jw.raw(string(bytes.TrimSuffix(head, []byte("null}"))))
	if len(e.steps) == 0 {
		jw.raw("null")
	}
	for i, s := range e.steps {
		ss := stepState{Name: s.name, Sig: s.sig, Kind: s.kind, Late: s.counts().late()}
		_, ss.Series = s.len()
		if sm, ok := s.op.(summarizer); ok && s.op != nil {
			ss.Watermark, ss.Windows = sm.summary()
		}
		b, err := json.Marshal(&ss)
		if err != nil {
			return fmt.Errorf("encode checkpoint of step %s: %w", s.name, err)
		}
		jw.raw(jw.sep(i, "["))
		if s.op == nil {
			jw.raw(string(b))
			continue
		}
		// b ends with }: the state goes before it.
		jw.raw(string(b[:len(b)-1]) + `,"state":`)
		if err := jw.err; err != nil {
			return fmt.Errorf("encode checkpoint: %w", err)
		}
		if sw, ok := s.op.(stateWriter); ok {
			err = sw.WriteJSON(w)
		} else {
			var data []byte
			if data, err = s.op.MarshalJSON(); err == nil {
				_, err = w.Write(data)
			}
		}
		if err != nil {
			return fmt.Errorf("encode checkpoint of step %s: %w", s.name, err)
		}
		jw.raw("}")
	}
	jw.close(len(e.steps), "]")
	jw.raw("}")
	if jw.err != nil {
		return fmt.Errorf("encode checkpoint: %w", jw.err)
	}
	return nil
}

// plainState returns a checkpoint's state as JSON, inflating it when it is
// compressed.
func plainState(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, gzipMagic) {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	return plain, nil
}

// restore loads a checkpoint. Steps are matched by name; a step that is new
// in the config starts empty, a step that is gone is dropped with a log line.
func (e *Engine) restore(data []byte) error {
	data, err := plainState(data)
	if err != nil {
		return err
	}
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
	data, err := plainState(data)
	if err != nil {
		return nil, fmt.Errorf("decode engine state: %w", err)
	}
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

// jsonWriter writes JSON a value at a time, keeping the first error.
type jsonWriter struct {
	w   io.Writer
	err error
	buf []byte // str's
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = io.WriteString(j.w, s)
	}
}

// value writes v as json.Marshal encodes it.
func (j *jsonWriter) value(v any) {
	if j.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		j.err = err
		return
	}
	_, j.err = j.w.Write(b)
}

// str writes s as json.Marshal encodes it, without value's allocations
// (a checkpoint writes a key per group).
func (j *jsonWriter) str(s string) {
	if j.err != nil {
		return
	}
	j.buf = ops.AppendJSONString(j.buf[:0], s)
	_, j.err = j.w.Write(j.buf)
}

// sep is what goes before element i of a list opened by open.
func (j *jsonWriter) sep(i int, open string) string {
	if i == 0 {
		return open
	}
	return ","
}

// close ends a list of n elements (none: nothing was opened).
func (j *jsonWriter) close(n int, end string) {
	if n > 0 {
		j.raw(end)
	}
}
