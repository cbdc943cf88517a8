package forward

import (
	"reflect"
	"sync"

	"github.com/rivulet-edge/rivulet/wal"
)

// Lanes is one sink's outboxes in priority order, as one Outbox: Next
// takes from the first lane with pending entries, so an alert raised
// during an outage is delivered before the backlog of aggregates when the
// link returns. Each lane keeps its own order and cursor.
type Lanes struct {
	lanes []Outbox
	from  int // the lane the last Next read

	mu     sync.Mutex
	chans  []<-chan struct{} // the lanes' channels the merged one covers
	merged chan struct{}
}

var _ Outbox = (*Lanes)(nil)

// NewLanes returns the outboxes lanes, highest priority first, as one
// Outbox. The Runner reads the lanes as alerts, results and raw, in that
// order, for their ttl; a fourth or later lane counts as raw.
func NewLanes(lanes ...Outbox) *Lanes { return &Lanes{lanes: lanes} }

// Next returns entries of the highest-priority lane that has any.
func (l *Lanes) Next(maxPoints, maxBytes int) ([]wal.OutEntry, error) {
	for i, b := range l.lanes {
		entries, err := b.Next(maxPoints, maxBytes)
		if err != nil || len(entries) > 0 {
			l.from = i
			return entries, err
		}
	}
	return nil, nil
}

// overtaken reports whether a lane of higher priority than the one the
// last Next read has pending entries: a failing batch should then give way.
func (l *Lanes) overtaken() bool {
	for _, b := range l.lanes[:l.from] {
		if p, ok := b.(pender); ok {
			if p.Pending() {
				return true
			}
			continue
		}
		if entries, err := b.Next(1, 1); err == nil && len(entries) > 0 {
			return true
		}
	}
	return false
}

// pender is an Outbox that tells whether Next has an entry without
// reading it (wal.Outbox: a window's results are not decompressed only to
// learn that they wait).
type pender interface {
	Pending() bool
}

var _ pender = (*wal.Outbox)(nil)

// Advance advances the lane the last Next read past seq.
func (l *Lanes) Advance(seq uint64) error { return l.lanes[l.from].Advance(seq) }

// Save saves the cursor of every lane, in priority order; it stops at the
// first failure.
func (l *Lanes) Save() error {
	for _, b := range l.lanes {
		if err := b.Save(); err != nil {
			return err
		}
	}
	return nil
}

// SetSyncer passes fn to every lane that takes one (see
// wal.Outbox.SetSyncer).
func (l *Lanes) SetSyncer(fn func() error) {
	for _, b := range l.lanes {
		if s, ok := b.(syncSetter); ok {
			s.SetSyncer(fn)
		}
	}
}

// syncSetter is an Outbox that can sync the sink before it saves its
// cursor on its own (to make room under a disk cap).
type syncSetter interface {
	SetSyncer(fn func() error)
}

// Rewind rewinds every lane to its saved cursor.
func (l *Lanes) Rewind() {
	for _, b := range l.lanes {
		b.Rewind()
	}
}

// Wait returns a channel closed when any lane appends after the call. One
// goroutine waits per combination of the lanes' channels, and ends when
// one of them fires.
func (l *Lanes) Wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	chans := make([]<-chan struct{}, len(l.lanes))
	same := l.merged != nil
	for i, b := range l.lanes {
		chans[i] = b.Wait()
		same = same && chans[i] == l.chans[i]
	}
	if same {
		return l.merged
	}
	merged := make(chan struct{})
	l.chans, l.merged = chans, merged
	cases := make([]reflect.SelectCase, len(chans))
	for i, c := range chans {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)}
	}
	go func() {
		reflect.Select(cases)
		close(merged)
	}()
	return merged
}
