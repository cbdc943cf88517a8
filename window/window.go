package window

import (
	"math"
	"sort"
	"time"
)

// Tumbling assigns each instant to one window of a fixed size, aligned to
// the Unix epoch: [k·Size, (k+1)·Size).
type Tumbling struct {
	Size int64 // ns
}

// NewTumbling returns a tumbling assigner of the given size.
func NewTumbling(size time.Duration) Tumbling { return Tumbling{Size: int64(size)} }

// Start returns the start of the window holding t, rounding toward minus
// infinity so that negative times align too.
func (w Tumbling) Start(t int64) int64 {
	s := t - t%w.Size
	if t%w.Size < 0 {
		s -= w.Size
	}
	return s
}

// End returns the exclusive end of the window that starts at start.
func (w Tumbling) End(start int64) int64 { return start + w.Size }

// None marks "no event seen yet" in a Watermark.
const None = math.MinInt64

// Watermark tracks how far event time has certainly progressed for one
// stream. It is advanced by data (highest event time − MaxDelay) and, once
// the stream has carried no data for IdleTimeout of processing time, by the
// processing time that passes. Processing time is the ingest time recorded
// in the log; Epoch restarts the idle clock so that the agent's downtime and
// reconnects never count as idleness.
type Watermark struct {
	MaxDelay    int64 `json:"max_delay"`
	IdleTimeout int64 `json:"idle_timeout"`
	// MaxEvent is the highest event time observed, or None.
	MaxEvent int64 `json:"max_event"`
	// Active is the processing time of the last data or epoch.
	Active int64 `json:"active"`
	// Value is the current watermark; it never decreases.
	Value int64 `json:"value"`
}

// NewWatermark returns a watermark that has seen nothing.
func NewWatermark(maxDelay, idleTimeout time.Duration) Watermark {
	return Watermark{MaxDelay: int64(maxDelay), IdleTimeout: int64(idleTimeout), MaxEvent: None, Value: None}
}

// Observe records a data point with event time t seen at processing time proc.
func (w *Watermark) Observe(t, proc int64) {
	if t > w.MaxEvent {
		w.MaxEvent = t
	}
	w.Active = proc
}

// Epoch restarts the idle clock at processing time proc: a source has just
// (re)connected and must get its chance to redeliver before idleness counts.
func (w *Watermark) Epoch(proc int64) { w.Active = proc }

// Advance recomputes the watermark at processing time proc and returns it.
func (w *Watermark) Advance(proc int64) int64 {
	if w.MaxEvent == None {
		return w.Value
	}
	v := w.MaxEvent - w.MaxDelay
	if idle := proc - w.Active; w.IdleTimeout > 0 && idle >= w.IdleTimeout {
		v += idle
	}
	if v > w.Value {
		w.Value = v
	}
	return w.Value
}

// Set holds keyed state per open window. Windows fire in start order, and
// the keys of one window in sorted order, so output order is a function of
// the input alone.
type Set[S any] struct {
	windows map[int64]map[string]S
}

// NewSet returns an empty window set.
func NewSet[S any]() *Set[S] { return &Set[S]{windows: map[int64]map[string]S{}} }

// Get returns the state of key in the window starting at start, creating it
// with mk when absent.
func (s *Set[S]) Get(start int64, key string, mk func() S) S {
	w := s.windows[start]
	if w == nil {
		w = map[string]S{}
		s.windows[start] = w
	}
	st, ok := w[key]
	if !ok {
		st = mk()
		w[key] = st
	}
	return st
}

// GetBytes is Get with the key as bytes. It allocates the key string only
// when it creates the state, so looking up an existing state is free.
func (s *Set[S]) GetBytes(start int64, key []byte, mk func() S) S {
	w := s.windows[start]
	if w == nil {
		w = map[string]S{}
		s.windows[start] = w
	}
	st, ok := w[string(key)]
	if !ok {
		st = mk()
		w[string(key)] = st
	}
	return st
}

// Len returns the number of open windows and of keyed states in them.
func (s *Set[S]) Len() (windows, states int) {
	for _, w := range s.windows {
		states += len(w)
	}
	return len(s.windows), states
}

// Fire removes every window whose end (per endOf) is at or below wm and
// calls fn for each of its keys, windows in start order, keys sorted.
func (s *Set[S]) Fire(wm int64, endOf func(start int64) int64, fn func(start int64, key string, st S)) {
	var due []int64
	for start := range s.windows {
		if endOf(start) <= wm {
			due = append(due, start)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
	for _, start := range due {
		s.each(start, fn)
		delete(s.windows, start)
	}
}

// Each calls fn for every state, windows in start order, keys sorted.
func (s *Set[S]) Each(fn func(start int64, key string, st S)) {
	starts := make([]int64, 0, len(s.windows))
	for start := range s.windows {
		starts = append(starts, start)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, start := range starts {
		s.each(start, fn)
	}
}

func (s *Set[S]) each(start int64, fn func(start int64, key string, st S)) {
	w := s.windows[start]
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fn(start, k, w[k])
	}
}
