package series

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/point"
)

// maxNames bounds the distinct field names an Op with no configured Fields
// tracks; fields with further names are ignored.
const maxNames = 4096

// Op runs one stateful operator over every series of its input. It is not
// safe for concurrent use.
type Op struct {
	cfg   Config
	kind  opKind
	name  string
	unit  float64 // ns per derivative unit
	ttl   int64
	after int64
	fixed bool // Fields configured: names is the fixed list of them

	names []string          // field names by id
	outs  []string          // result field names by id: <field>_<op>
	ids   map[string]uint32 // field name → id
	index map[string]*series
	peak  int // most series held since the index was last rebuilt

	// live holds the series with data since their last no_data report,
	// quiet those reported silent; both oldest data first. Every quiet
	// series is older than every live one, so the two lists chained are the
	// whole set in order of last data.
	live, quiet list
	epoch       int64 // the last (re)connection, or math.MinInt64

	dropped, outOfOrder, expired uint64

	// Scratch, reused so that Add allocates nothing for a known series.
	keyBuf  []byte
	sortBuf point.Point
	vals    []fval
	out     point.Point
	due     []*series
	silentS []point.Field
	above   lineprotocol.Value
	below   lineprotocol.Value
}

// fval is one processed input value.
type fval struct {
	id uint32
	v  float64
}

// New returns an Op for a validated Config; name is the step name and the
// measurement of the results.
func New(name string, c Config) (*Op, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("stateful step %q: %w", name, err)
	}
	k, _ := parseOp(c.Op)
	o := &Op{
		cfg: c, kind: k, name: name,
		unit:  float64(c.Unit),
		ttl:   int64(c.TTL),
		after: int64(c.After),
		fixed: len(c.Fields) > 0,
		ids:   map[string]uint32{},
		index: map[string]*series{},
		epoch: math.MinInt64,
	}
	if k == opRate || o.unit == 0 {
		o.unit = float64(time.Second)
	}
	for _, f := range c.Fields {
		o.intern(f)
	}
	o.above, _ = lineprotocol.StringValue("above")
	o.below, _ = lineprotocol.StringValue("below")
	return o, nil
}

// Len returns the number of series held.
func (o *Op) Len() int { return len(o.index) }

// Dropped returns how many points were refused because their series was
// new and MaxSeries series were held.
func (o *Op) Dropped() uint64 { return o.dropped }

// OutOfOrder returns how many points rate, derivative, delta or
// state_duration skipped because their event time was not after (for
// state_duration: was before) that of the previous point of the series.
func (o *Op) OutOfOrder() uint64 { return o.outOfOrder }

// Expired returns how many series were dropped after TTL without data.
func (o *Op) Expired() uint64 { return o.expired }

// Epoch records that the source (re)connected at processing time proc: the
// silence clock (no_data) and the TTL clock of every series restart at
// proc, so that the agent's own downtime counts as neither.
func (o *Op) Epoch(proc int64) { o.epoch = max(o.epoch, proc) }

// Add folds point p with event time t, seen at processing time proc, into
// the state of its series and emits the result, if any. It first does what
// Advance(proc) would. proc must not decrease from call to call; one that
// does is taken as the highest before it. p's strings may be borrowed: Add
// copies what it keeps, and allocates nothing for a series it already
// holds. The point passed to emit is scratch of the Op, valid only during
// the call.
func (o *Op) Add(p *point.Point, t, proc int64, emit func(*point.Point)) {
	if n := o.newest(); n != nil && proc < n.seen {
		proc = n.seen // keeps the lists in order should proc ever go back
	}
	o.Advance(proc, emit)
	if !o.collect(p) {
		return
	}
	tags := o.sortedTags(p)
	o.keyBuf = appendKey(o.keyBuf[:0], p.Measurement, tags)
	s := o.index[string(o.keyBuf)]
	if s == nil {
		if len(o.index) >= o.cfg.MaxSeries {
			o.dropped++
			return
		}
		s = o.newSeries(string(o.keyBuf))
		o.peak = max(o.peak, len(o.index))
	} else {
		o.unlink(s)
		if s.silent {
			s.silent = false
			o.emitRecovered(p.Measurement, tags, proc, emit)
		}
	}
	s.seen = proc
	o.live.pushBack(s)
	o.start(p.Measurement, tags, t)
	if o.apply(s, p, t) && len(o.out.Fields) > 0 {
		emit(&o.out)
	}
}

// newest returns the series with the latest data, or nil.
func (o *Op) newest() *series {
	if o.live.tail != nil {
		return o.live.tail
	}
	return o.quiet.tail
}

// collect gathers the processed numeric, finite field values of p into
// o.vals and reports whether there are any.
func (o *Op) collect(p *point.Point) bool {
	o.vals = o.vals[:0]
	for _, f := range p.Fields {
		v, ok := point.Float(f.Value)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if id, ok := o.fieldID(f.Key); ok {
			o.vals = append(o.vals, fval{id, v})
		}
	}
	return len(o.vals) > 0
}

// fieldID returns the id of a processed field, interning a new name when
// no Fields are configured.
func (o *Op) fieldID(key string) (uint32, bool) {
	if id, ok := o.ids[key]; ok {
		return id, true
	}
	if o.fixed || len(o.names) >= maxNames || !utf8.ValidString(key) {
		return 0, false
	}
	return o.intern(strings.Clone(key)), true
}

func (o *Op) intern(name string) uint32 {
	id := uint32(len(o.names))
	o.names = append(o.names, name)
	o.outs = append(o.outs, name+"_"+o.kind.String())
	o.ids[name] = id
	return id
}

// sortedTags returns p's tags sorted by key without duplicates, copying
// them into scratch only when p's are not.
func (o *Op) sortedTags(p *point.Point) []point.Tag {
	ok := true
	for i := 1; i < len(p.Tags); i++ {
		if p.Tags[i-1].Key >= p.Tags[i].Key {
			ok = false
			break
		}
	}
	if ok {
		return p.Tags
	}
	o.sortBuf.Tags = append(o.sortBuf.Tags[:0], p.Tags...)
	o.sortBuf.SortTags()
	return o.sortBuf.Tags
}

// start resets the scratch result point for a point of the series.
func (o *Op) start(measurement string, tags []point.Tag, t int64) {
	o.out.Measurement = o.name
	o.out.Tags = append(o.out.Tags[:0], tags...)
	o.out.Fields = o.out.Fields[:0]
	o.out.Time = t
}

// Advance runs after every log entry, at processing time proc: it reports
// the series whose silence reached After (no_data) in order of report
// time, then measurement and tags; then it drops the series that have had
// no data for TTL. It costs O(1) when nothing is due.
func (o *Op) Advance(proc int64, emit func(*point.Point)) {
	if o.kind == opNoData {
		o.reportSilent(proc, emit)
	}
	if o.ttl <= 0 {
		return
	}
	n := len(o.index)
	o.expire(&o.quiet, proc)
	o.expire(&o.live, proc)
	if len(o.index) < n {
		o.shrink()
	}
}

// shrink rebuilds the index once it holds under a quarter of its peak,
// since a Go map never gives back the memory of deleted entries.
func (o *Op) shrink() {
	if o.peak <= 1024 || len(o.index) >= o.peak/4 {
		return
	}
	index := make(map[string]*series, len(o.index))
	for k, s := range o.index {
		index[k] = s
	}
	o.index, o.peak = index, len(index)
}

// expire drops the series at the front of l that have had no data for TTL.
func (o *Op) expire(l *list, proc int64) {
	for s := l.head; s != nil && proc-o.since(s) >= o.ttl; s = l.head {
		o.unlink(s)
		delete(o.index, s.key)
		o.expired++
	}
}

// since is when the silence of s began, for no_data and TTL: its last data
// or the last epoch, whichever is later.
func (o *Op) since(s *series) int64 { return max(s.seen, o.epoch) }

func (o *Op) reportSilent(proc int64, emit func(*point.Point)) {
	for s := o.live.head; s != nil && proc-o.since(s) >= o.after; s = o.live.head {
		o.unlink(s)
		s.silent = true
		o.quiet.pushBack(s)
		o.due = append(o.due, s)
	}
	if len(o.due) == 0 {
		return
	}
	// Silences that began at the same epoch are due at the same time.
	slices.SortStableFunc(o.due, func(a, b *series) int {
		return cmp.Or(cmp.Compare(o.since(a), o.since(b)), strings.Compare(a.key, b.key))
	})
	for i, s := range o.due {
		at := o.since(s) + o.after
		m, tags, _ := parseKey(s.key, o.out.Tags[:0])
		o.out = point.Point{Measurement: o.name, Tags: tags, Fields: o.out.Fields[:0], Time: at}
		o.out.SetTag("measurement", m)
		o.out.Fields = append(o.out.Fields, point.Field{Key: "silent_s", Value: seconds(at - s.seen)})
		emit(&o.out)
		o.due[i] = nil
	}
	o.due = o.due[:0]
}

// emitRecovered reports that a series reported silent has data again, at
// processing time proc.
func (o *Op) emitRecovered(measurement string, tags []point.Tag, proc int64, emit func(*point.Point)) {
	o.start(measurement, tags, proc)
	o.out.SetTag("measurement", measurement)
	o.out.Fields = append(o.out.Fields, point.Field{Key: "silent_s", Value: seconds(0)})
	emit(&o.out)
}

// seconds returns ns as a float field value in seconds.
func seconds(ns int64) lineprotocol.Value {
	v, _ := lineprotocol.FloatValue(float64(ns) / 1e9)
	return v
}
