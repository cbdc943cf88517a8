package engine

import (
	"github.com/rivulet-edge/rivulet/point"
)

// emitFunc receives a step's output point; p is only valid during the call.
type emitFunc func(p *point.Point)

// operator is the stateful part of a step: windows, per-series state or
// detectors. Every method runs on log time only: t is a point's event time
// (its timestamp, or its ingest time) and proc the processing time, the
// highest ingest time applied so far. The input point's strings may be
// borrowed; an operator copies what it keeps.
type operator interface {
	// Add folds one input point.
	Add(p *point.Point, t, proc int64, emit emitFunc)
	// Advance runs after every log entry: it fires what is due at proc.
	Advance(proc int64, emit emitFunc)
	// Epoch tells that a source (re)connected at proc.
	Epoch(proc int64)
	// Len returns the open windows (0 where there are none) and the keyed
	// states held.
	Len() (windows, series int)
	// Counts returns the operator's counters for the metrics.
	Counts() opCounts
	// MarshalJSON and UnmarshalJSON checkpoint and restore all state.
	MarshalJSON() ([]byte, error)
	UnmarshalJSON(data []byte) error
}

// opCounts are an operator's cumulative counters, checkpointed with it.
type opCounts struct {
	// Late counts late points by outcome.
	LateDropped, LateUpdated, LateSide uint64
	// Refused counts points or series refused by a max_series cap.
	Refused uint64
	// Expired counts state dropped by a TTL.
	Expired uint64
	// OutOfOrder counts points a per-series operator skipped for arriving
	// behind the series' previous point.
	OutOfOrder uint64
}

func (c opCounts) late() uint64 { return c.LateDropped + c.LateUpdated + c.LateSide }
