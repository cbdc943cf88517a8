package detect

import (
	"github.com/rivulet-edge/rivulet/ops"
)

// pageBits sets the rows of a page: 64, so that an Op of a few series
// stays small and one of many wastes at most a page.
const pageBits = 6

// pages is a growable array of rows addressed by index, allocated a page
// at a time so that growing never copies the rows nor holds two copies.
type pages[T any] struct{ p [][]T }

// at returns row i, which ensure must have made.
func (s *pages[T]) at(i int32) *T { return &s.p[i>>pageBits][i&(1<<pageBits-1)] }

// ensure makes row i.
func (s *pages[T]) ensure(i int32) {
	for int(i>>pageBits) >= len(s.p) {
		s.p = append(s.p, make([]T, 1<<pageBits))
	}
}

// states holds the detector state of every series of one rule, by row.
// A row is made by reset before its first step.
type states interface {
	// reset gives row i the state of a detector that saw nothing.
	reset(i int32)
	// clear drops what row i refers to, once its series is gone.
	clear(i int32)
	// step scores v at event time t with row i's state.
	step(i int32, v float64, t int64) ops.Result
	// state returns a pointer to row i's checkpointable state, or nil
	// for a stateless detector.
	state(i int32) any
}

// newStates returns the store of the rule's detector state. A detector
// whose state is a small value (threshold, ewma, rate, stuck, no_data) is
// shared by all rows: its settings are kept once and only the state is
// kept per row, copied in before a step and out after it. A detector with
// windows (zscore, mad) is kept whole per row, and so is the anomaly
// detector, in pages (anomalies).
func (r *rule) newStates() states {
	d, st := r.newDetector()
	switch st := st.(type) {
	case nil:
		return stateless{d}
	case *ops.ThresholdState:
		return newShared(d, st)
	case *ops.EWMAState:
		return newShared(d, st)
	case *ops.RateState:
		return newShared(d, st)
	case *StuckState:
		return newShared(d, st)
	case *GapState:
		return newShared(d, st)
	case *ops.AnomalyState:
		return &anomalies{init: *d.(*ops.Anomaly)}
	}
	return &owned{r: r}
}

// shared runs one detector for every row, swapping each row's state in.
// S must hold no pointer into the detector.
type shared[S any] struct {
	det  ops.Detector
	cur  *S // det's own state
	init S
	rows pages[S]
}

func newShared[S any](d ops.Detector, st *S) *shared[S] {
	return &shared[S]{det: d, cur: st, init: *st}
}

func (s *shared[S]) reset(i int32) {
	s.rows.ensure(i)
	*s.rows.at(i) = s.init
}

func (s *shared[S]) clear(int32) {}

func (s *shared[S]) step(i int32, v float64, t int64) ops.Result {
	p := s.rows.at(i)
	*s.cur = *p
	r := s.det.Step(v, t)
	*p = *s.cur
	return r
}

func (s *shared[S]) state(i int32) any { return s.rows.at(i) }

// stateless runs a detector without state (bounds) for every row.
type stateless struct{ det ops.Detector }

func (s stateless) reset(int32)                                 {}
func (s stateless) clear(int32)                                 {}
func (s stateless) step(_ int32, v float64, t int64) ops.Result { return s.det.Step(v, t) }
func (s stateless) state(int32) any                             { return nil }

// owned keeps a detector of its own per row.
type owned struct {
	r    *rule
	rows pages[ownedRow]
}

type ownedRow struct {
	det   ops.Detector
	state any
}

func (s *owned) reset(i int32) {
	s.rows.ensure(i)
	d, st := s.r.newDetector()
	*s.rows.at(i) = ownedRow{det: d, state: st}
}

func (s *owned) clear(i int32) { *s.rows.at(i) = ownedRow{} }

func (s *owned) step(i int32, v float64, t int64) ops.Result {
	return s.rows.at(i).det.Step(v, t)
}

func (s *owned) state(i int32) any { return s.rows.at(i).state }

// anomalies keeps the anomaly detector of every row. A detector is 8.3
// KiB, all state, and one allocated alone takes the allocator's 9.25 KiB
// size class: 13 % lost per series. The first anomalySingles rows are
// allocated one by one, so that a rule over a few series stays small;
// later rows are allocated a page of 64 at a time (534 KiB, of which
// about 6 KiB are lost to rounding).
type anomalies struct {
	init    ops.Anomaly // a detector that saw nothing
	singles [anomalySingles]*ops.Anomaly
	rest    pages[ops.Anomaly] // row i at i-anomalySingles
}

// anomalySingles is how many rows anomalies allocates one by one.
const anomalySingles = 64

func (s *anomalies) row(i int32) *ops.Anomaly {
	if i < anomalySingles {
		return s.singles[i]
	}
	return s.rest.at(i - anomalySingles)
}

func (s *anomalies) reset(i int32) {
	if i < anomalySingles {
		if s.singles[i] == nil {
			s.singles[i] = new(ops.Anomaly)
		}
	} else {
		s.rest.ensure(i - anomalySingles)
	}
	*s.row(i) = s.init
}

// clear lets a single row's detector go; a paged one stays for the row's
// next series (rows are reused).
func (s *anomalies) clear(i int32) {
	if i < anomalySingles {
		s.singles[i] = nil
	}
}

func (s *anomalies) step(i int32, v float64, t int64) ops.Result { return s.row(i).Step(v, t) }

func (s *anomalies) state(i int32) any { return &s.row(i).State }
