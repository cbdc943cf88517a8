package series

import (
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
)

// series is the state of one series. It is kept small: with rate on one
// field it is one 80-byte object, one 24-byte field slice, the key and the
// index entry.
type series struct {
	key        string  // measurement and sorted tags, see appendKey
	prev, next *series // neighbours in the live or quiet list
	seen       int64   // processing time of the last data
	fields     []fstate
	ext        *ext // state_duration and moving_average only
	silent     bool // no_data reported; a recovery is due with the next data
}

// fstate is the state of one field of a series. The meaning of n, t and v
// depends on the op:
//
//	rate, derivative, delta: n=1 once a point is held, t and v its time and value
//	ewma, cumulative_sum:    n=1 once a point is folded, v the running value
//	moving_average:          n values in the ring (≤ Points), t the next ring slot, v their sum
//	state_duration:          n=1 below, 2 above, t the time of the last point
//	on_change:               n=1 once a point is held, v its value
type fstate struct {
	id uint32 // field name id
	n  uint32
	t  int64
	v  float64
}

// ext is the state of the ops that need more than fstate.
type ext struct {
	since int64     // state_duration: event time the current state began
	ring  []float64 // moving_average: Points values per field, in field order
}

const (
	stateBelow = 1
	stateAbove = 2
)

// list is a doubly linked list of series, oldest data first.
type list struct{ head, tail *series }

func (l *list) pushBack(s *series) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
}

func (l *list) remove(s *series) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

// unlink removes s from the list that holds it.
func (o *Op) unlink(s *series) {
	if s.silent {
		o.quiet.remove(s)
	} else {
		o.live.remove(s)
	}
}

// newSeries creates and indexes the state of a series; the caller links
// it. With Fields configured, every field has its slot from the start.
func (o *Op) newSeries(key string) *series {
	s := &series{key: key}
	if o.fixed {
		s.fields = make([]fstate, len(o.names))
		for i := range s.fields {
			s.fields[i].id = uint32(i)
		}
	}
	switch o.kind {
	case opStateDuration:
		s.ext = &ext{}
	case opMovingAverage:
		s.ext = &ext{ring: make([]float64, len(s.fields)*o.cfg.Points)}
	}
	o.index[key] = s
	return s
}

// field returns the state of field id and its slot in s.fields, adding it
// when no Fields are configured.
func (o *Op) field(s *series, id uint32) (*fstate, int) {
	if o.fixed {
		return &s.fields[id], int(id)
	}
	for i := range s.fields {
		if s.fields[i].id == id {
			return &s.fields[i], i
		}
	}
	s.fields = append(s.fields, fstate{id: id})
	if o.kind == opMovingAverage {
		s.ext.ring = append(s.ext.ring, make([]float64, o.cfg.Points)...)
	}
	return &s.fields[len(s.fields)-1], len(s.fields) - 1
}

// appendKey appends the identity of a series to b: the measurement, then
// each tag's key and value, each ended by a 0 byte, with the bytes 0 and 1
// inside a name escaped as 1 2 and 1 3. Keys compare as the tuples
// (measurement, key1, value1, key2, …) do.
func appendKey(b []byte, measurement string, tags []point.Tag) []byte {
	b = appendString(b, measurement)
	for _, t := range tags {
		b = appendString(appendString(b, t.Key), t.Value)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	if strings.IndexByte(s, 0) < 0 && strings.IndexByte(s, 1) < 0 {
		return append(append(b, s...), 0)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 1 {
			b = append(b, 1, c+2)
		} else {
			b = append(b, c)
		}
	}
	return append(b, 0)
}

// parseKey splits a key made by appendKey, appending its tags to tags. The
// strings share memory with key unless they hold escaped bytes. ok is false
// for a malformed key.
func parseKey(key string, tags []point.Tag) (measurement string, _ []point.Tag, ok bool) {
	measurement, rest, ok := nextString(key)
	for ok && rest != "" {
		var k, v string
		if k, rest, ok = nextString(rest); ok {
			v, rest, ok = nextString(rest)
		}
		tags = append(tags, point.Tag{Key: k, Value: v})
	}
	return measurement, tags, ok
}

func nextString(b string) (s, rest string, ok bool) {
	end := strings.IndexByte(b, 0)
	if end < 0 {
		return "", "", false
	}
	s, rest = b[:end], b[end+1:]
	if strings.IndexByte(s, 1) < 0 {
		return s, rest, true
	}
	u := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != 1 {
			u = append(u, s[i])
			continue
		}
		if i++; i == len(s) || s[i] < 2 || s[i] > 3 {
			return "", "", false
		}
		u = append(u, s[i]-2)
	}
	return string(u), rest, true
}

// apply folds the collected values o.vals of point p at event time t into
// s and builds the result in o.out; it reports whether to emit it.
func (o *Op) apply(s *series, p *point.Point, t int64) bool {
	switch o.kind {
	case opRate, opDerivative, opDelta:
		return o.applyChange(s, t)
	case opStateDuration:
		return o.applyState(s, t)
	case opOnChange:
		return o.applyOnChange(s, p)
	case opNoData:
		return false
	}
	for _, fv := range o.vals {
		fs, slot := o.field(s, fv.id)
		var r float64
		switch o.kind {
		case opEWMA:
			if fs.n == 0 {
				fs.n, fs.v = 1, fv.v
			} else {
				fs.v = o.cfg.Alpha*fv.v + (1-o.cfg.Alpha)*fs.v
			}
			r = fs.v
		case opCumulativeSum:
			fs.n = 1
			fs.v += fv.v
			r = fs.v
		case opMovingAverage:
			r = o.average(s, fs, slot, fv.v)
		}
		o.result(fv.id, r)
	}
	return true
}

// result adds the result field of field id unless r is not finite.
func (o *Op) result(id uint32, r float64) {
	if v, ok := lineprotocol.FloatValue(r); ok {
		o.out.Fields = append(o.out.Fields, point.Field{Key: o.outs[id], Value: v})
	}
}

// applyChange is rate, derivative and delta. A point not after the
// previous one of the series is skipped and counted.
func (o *Op) applyChange(s *series, t int64) bool {
	late := false
	for _, fv := range o.vals {
		fs, _ := o.field(s, fv.id)
		if fs.n == 0 {
			fs.n, fs.t, fs.v = 1, t, fv.v
			continue
		}
		if t <= fs.t {
			late = true
			continue
		}
		d := fv.v - fs.v
		if o.cfg.Counter && fv.v < fs.v {
			d = max(fv.v, 0) // reset: the counter restarted from 0
		}
		dt := t - fs.t
		fs.t, fs.v = t, fv.v
		if o.kind != opDelta {
			d = d * o.unit / float64(dt)
		}
		o.result(fv.id, d)
	}
	if late {
		o.outOfOrder++
	}
	return true
}

// applyState is state_duration over the one configured field.
func (o *Op) applyState(s *series, t int64) bool {
	fv := o.vals[0]
	fs := &s.fields[0]
	if fs.n != 0 && t < fs.t {
		o.outOfOrder++
		return false
	}
	st, val := uint32(stateBelow), o.below
	if fv.v > o.cfg.Threshold {
		st, val = stateAbove, o.above
	}
	if fs.n != st {
		fs.n, s.ext.since = st, t
	}
	fs.t = t
	o.out.Fields = append(o.out.Fields,
		point.Field{Key: "state", Value: val},
		point.Field{Key: "state_duration", Value: seconds(t - s.ext.since)})
	return true
}

// applyOnChange passes p's fields on when a processed value differs from
// the previous one of its field, or the field is new to the series.
func (o *Op) applyOnChange(s *series, p *point.Point) bool {
	changed := false
	for _, fv := range o.vals {
		fs, _ := o.field(s, fv.id)
		if fs.n == 0 || fs.v != fv.v {
			changed = true
		}
		fs.n, fs.v = 1, fv.v
	}
	if changed {
		o.out.Fields = append(o.out.Fields, p.Fields...)
	}
	return changed
}

// average folds v into the moving average of one field. The running sum
// is recomputed from the ring each time the ring wraps, so rounding error
// cannot accumulate.
func (o *Op) average(s *series, fs *fstate, slot int, v float64) float64 {
	n := o.cfg.Points
	ring := s.ext.ring[slot*n : (slot+1)*n]
	pos := int(fs.t)
	if int(fs.n) == n {
		fs.v -= ring[pos]
	} else {
		fs.n++
	}
	ring[pos] = v
	fs.v += v
	if pos++; pos == n {
		pos, fs.v = 0, 0
		for _, x := range ring {
			fs.v += x
		}
	}
	fs.t = int64(pos)
	return fs.v / float64(fs.n)
}
