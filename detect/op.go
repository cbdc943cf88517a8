package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
)

// Op runs one detect rule over every series it is fed. A series is a
// measurement with one tag set. Op is not safe for concurrent use; the
// engine calls Add, Advance and Epoch in log order.
//
// A series costs its key in the map, which is also the only copy of its
// measurement and tags, and a row of state: the rule's settings are kept
// once, not per series.
type Op struct {
	name    string
	r       *rule
	ttl     int64
	series  map[string]int32 // key (appendKey) → row
	rows    pages[entry]
	det     states
	free    []int32 // rows of series that are gone, for reuse
	n       int32   // rows ever made
	odd     map[int32]ident
	dropped uint64
	// due is the processing time before which Advance has nothing to do.
	due int64

	keyBuf []byte
	tags   []point.Tag
	out    point.Point
}

// entry is one series' state but for its detector's.
type entry struct {
	seen int64 // processing time of the latest point
	track
}

// ident is the measurement and tags of a series whose key cannot be read
// back because a name holds a zero byte; line protocol has none, so this
// is for points made otherwise.
type ident struct {
	meas string
	tags []point.Tag
}

// New returns the operator of the step named rule.
func New(rule string, c Config) (*Op, error) {
	r, err := newRule(c)
	if err != nil {
		return nil, err
	}
	return &Op{name: rule, r: r, ttl: int64(c.TTL), series: map[string]int32{}, det: r.newStates(), due: math.MaxInt64}, nil
}

// Len returns the number of series with state.
func (o *Op) Len() int { return len(o.series) }

// Dropped returns how many points were refused because MaxSeries series
// already had state.
func (o *Op) Dropped() uint64 { return o.dropped }

// Add scores point p, with event time t and processing time proc (ns), and
// emits an alert point if the series changes level. A point without a
// numeric value in the rule's field is ignored. p's strings may be
// borrowed: Add copies those it keeps. The emitted point is valid only
// during emit. Add allocates nothing for a known series unless it emits.
func (o *Op) Add(p *point.Point, t, proc int64, emit func(*point.Point)) {
	v, ok := o.value(p)
	if !ok {
		return
	}
	o.keyBuf = appendKey(o.keyBuf[:0], p)
	i, ok := o.series[string(o.keyBuf)]
	if !ok {
		if max := o.r.cfg.MaxSeries; max > 0 && len(o.series) >= max {
			o.dropped++
			return
		}
		i = o.add(string(o.keyBuf), p.Measurement, p.Tags)
		// A new series is due when its silence (no_data) or its TTL ends;
		// waking Advance at once would sort every series per new one.
		switch {
		case o.r.kind == "no_data":
			o.due = min(o.due, proc)
		case o.ttl > 0:
			o.due = min(o.due, proc+o.ttl)
		}
	}
	e := o.rows.at(i)
	e.seen = max(e.seen, proc)
	var score float64
	var tr *ops.Transition
	if o.r.kind == "no_data" {
		tr = o.r.raise(&e.track, ops.OK, t) // data is here: the recovery, if any
	} else {
		score, tr = o.r.step(o.det, i, &e.track, v, t)
	}
	if tr != nil {
		// A durable copy of the key: the alert's tags are read from it.
		emit(o.alertPoint(string(o.keyBuf), i, tr, v, score))
	}
}

// add makes the row of a new series of key, measurement meas and tags,
// which may be borrowed, and returns it.
func (o *Op) add(key, meas string, tags []point.Tag) int32 {
	var i int32
	if n := len(o.free); n > 0 {
		i, o.free = o.free[n-1], o.free[:n-1]
	} else {
		i = o.n
		o.n++
		o.rows.ensure(i)
	}
	*o.rows.at(i) = entry{}
	o.det.reset(i)
	o.series[key] = i
	if strings.Count(key, "\x00") != 2*len(tags) {
		if o.odd == nil {
			o.odd = map[int32]ident{}
		}
		o.odd[i] = ident{meas: strings.Clone(meas), tags: cloneTags(tags)}
	}
	return i
}

// remove forgets the series of key, in row i.
func (o *Op) remove(key string, i int32) {
	delete(o.series, key)
	delete(o.odd, i)
	o.det.clear(i)
	o.free = append(o.free, i)
}

// identity returns the measurement and tags of the series of key, in row
// i; the tags are appended to tags[:0].
func (o *Op) identity(key string, i int32, tags []point.Tag) (string, []point.Tag) {
	if id, ok := o.odd[i]; ok {
		return id.meas, append(tags[:0], id.tags...)
	}
	meas, rest, _ := strings.Cut(key, "\x00")
	tags = tags[:0]
	for rest != "" {
		var k, v string
		k, rest, _ = strings.Cut(rest, "\x00")
		v, rest, _ = strings.Cut(rest, "\x00")
		tags = append(tags, point.Tag{Key: k, Value: v})
	}
	return meas, tags
}

// value returns the rule's field of p as a float.
func (o *Op) value(p *point.Point) (float64, bool) {
	for i := range p.Fields {
		if p.Fields[i].Key == o.r.field {
			return point.Float(p.Fields[i].Value)
		}
	}
	return 0, false
}

// appendKey appends the identity of p's series: the measurement, then
// each tag's key and value, separated by zero bytes (tags are sorted).
// Keys sort as they did when each name was also terminated by a zero
// byte, the order of the checkpoint rows and of Advance.
func appendKey(b []byte, p *point.Point) []byte {
	b = append(b, p.Measurement...)
	for _, t := range p.Tags {
		b = append(append(b, 0), t.Key...)
		b = append(append(b, 0), t.Value...)
	}
	return b
}

func cloneTags(tags []point.Tag) []point.Tag {
	out := make([]point.Tag, len(tags))
	for i, t := range tags {
		out[i] = point.Tag{Key: strings.Clone(t.Key), Value: strings.Clone(t.Value)}
	}
	return out
}

// Advance moves processing time to proc: a no_data rule raises the alerts
// of series silent past warn and crit (each at the instant the silence
// crossed it, so the output does not depend on how often Advance runs),
// and series silent for TTL lose their state unless their alert is raised.
// Series are visited in key order. Nothing is done, and nothing
// allocated, before the earliest instant something can be due.
func (o *Op) Advance(proc int64, emit func(*point.Point)) {
	if proc < o.due {
		return
	}
	next := int64(math.MaxInt64)
	keys := make([]string, 0, len(o.series))
	for k := range o.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i := o.series[k]
		e := o.rows.at(i)
		if o.r.kind == "no_data" {
			next = min(next, o.silence(k, i, proc, emit))
		}
		if o.ttl <= 0 {
			continue
		}
		switch end := e.seen + o.ttl; {
		case proc >= end && e.level == ops.OK:
			o.remove(k, i)
		case proc < end:
			next = min(next, end)
		}
	}
	o.due = next
}

// silence raises the no_data levels the series of key, in row i, crossed
// by proc and returns when the next one is due.
func (o *Op) silence(key string, i int32, proc int64, emit func(*point.Point)) int64 {
	e := o.rows.at(i)
	warn, crit := o.r.silences()
	for _, l := range []ops.Level{ops.Warn, ops.Crit} {
		d := warn
		if l == ops.Crit {
			d = crit
		}
		at := e.seen + d
		if e.level >= l {
			continue
		}
		if proc < at {
			return at
		}
		if tr := o.r.raise(&e.track, l, at); tr != nil {
			emit(o.alertPoint(key, i, tr, float64(d)/1e9, 1))
		}
	}
	return math.MaxInt64
}

// Epoch tells the operator that the source reconnected at processing time
// proc: the time the agent was down does not count as silence, nor towards
// the TTL.
func (o *Op) Epoch(proc int64) {
	for _, i := range o.series {
		e := o.rows.at(i)
		e.seen = max(e.seen, proc)
	}
	o.due = min(o.due, proc)
}

// alertPoint fills o.out with the alert of transition tr of the series of
// key, in row i, caused by value v with score.
func (o *Op) alertPoint(key string, i int32, tr *ops.Transition, v, score float64) *point.Point {
	meas, tags := o.identity(key, i, o.tags)
	o.tags = tags
	p := &o.out
	p.Measurement, p.Time = "alerts", tr.T
	p.Tags = append(p.Tags[:0], tags...)
	p.SetTag("measurement", meas)
	p.SetTag("rule", o.name)
	p.SetTag("level", tr.To.String())
	p.Fields = p.Fields[:0]
	addFloat(p, "score", score)
	addFloat(p, "value", v)
	lvl := tr.To
	if lvl == ops.OK {
		lvl = tr.From
	}
	if thr, ok := o.r.threshold(lvl, v); ok {
		addFloat(p, "threshold", thr)
	}
	if msg, ok := lineprotocol.StringValue(o.r.message(meas, tags, v, score, tr)); ok {
		p.AddField("message", msg)
	}
	return p
}

func addFloat(p *point.Point, key string, v float64) {
	if fv, ok := lineprotocol.FloatValue(v); ok {
		p.AddField(key, fv)
	}
}

// message words a transition for a person, e.g.
// "temperature value 41.2 above crit 35 (sensor=s1,zone=a)".
func (r *rule) message(meas string, tags []point.Tag, v, score float64, tr *ops.Transition) string {
	var b strings.Builder
	b.WriteString(meas)
	if r.kind == "no_data" {
		if tr.To == ops.OK {
			fmt.Fprintf(&b, " data is back, %s alert cleared", tr.From)
		} else {
			fmt.Fprintf(&b, " no data for %s (%s)", time.Duration(v*1e9), tr.To)
		}
		return withTags(&b, tags)
	}
	fmt.Fprintf(&b, " %s %s", r.field, num(v))
	thr, _ := r.threshold(tr.To, v)
	switch {
	case tr.To == ops.OK:
		fmt.Fprintf(&b, " back to ok from %s", tr.From)
	case r.kind == "threshold" && r.cfg.Threshold.Below:
		fmt.Fprintf(&b, " below %s %s", tr.To, num(thr))
	case r.kind == "threshold":
		fmt.Fprintf(&b, " above %s %s", tr.To, num(thr))
	case r.kind == "bounds":
		fmt.Fprintf(&b, " outside the possible range [%s, %s]", num(r.cfg.Bounds.Min), num(r.cfg.Bounds.Max))
	case r.kind == "rate":
		fmt.Fprintf(&b, " changing faster than %s %s/s", tr.To, num(thr))
	case r.kind == "stuck":
		fmt.Fprintf(&b, " unchanged for %s (%s)", time.Duration(thr*1e9), tr.To)
	case r.kind == "anomaly":
		fmt.Fprintf(&b, " anomalous, score %s reached %s %s", num(score), tr.To, num(thr))
	default:
		fmt.Fprintf(&b, " outlier, %s z-score reached %s %s", r.kind, tr.To, num(thr))
	}
	return withTags(&b, tags)
}

func withTags(b *strings.Builder, tags []point.Tag) string {
	for i, t := range tags {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(t.Key + "=" + t.Value)
		if i == len(tags)-1 {
			b.WriteByte(')')
		}
	}
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// opState is the checkpoint of an Op.
type opState struct {
	Sig     string      `json:"sig"`
	Field   string      `json:"field"`
	Dropped uint64      `json:"dropped"`
	Series  []seriesRow `json:"series"`
}

type seriesRow struct {
	Measurement string      `json:"measurement"`
	Tags        []point.Tag `json:"tags,omitempty"`
	Seen        int64       `json:"seen"`
	seriesState
}

// row returns the checkpoint of the series of key, in row i; its tags
// are appended to tags[:0].
func (o *Op) row(key string, i int32, tags []point.Tag, scratch *jsonScratch) (seriesRow, error) {
	e := o.rows.at(i)
	meas, tags := o.identity(key, i, tags)
	ss, err := save(o.det, i, &e.track, scratch)
	if err != nil {
		return seriesRow{}, fmt.Errorf("detect %s: series %q: %w", o.name, meas, err)
	}
	return seriesRow{Measurement: meas, Tags: tags, Seen: e.seen, seriesState: ss}, nil
}

// sortedKeys returns the keys of the series in order.
func (o *Op) sortedKeys() []string {
	keys := make([]string, 0, len(o.series))
	for k := range o.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MarshalJSON returns the full state: every series in key order with its
// detector, sustain and alert state.
func (o *Op) MarshalJSON() ([]byte, error) {
	st := opState{Sig: o.r.sig, Field: o.r.field, Dropped: o.dropped, Series: make([]seriesRow, 0, len(o.series))}
	for _, k := range o.sortedKeys() {
		row, err := o.row(k, o.series[k], nil, nil)
		if err != nil {
			return nil, err
		}
		st.Series = append(st.Series, row)
	}
	return json.Marshal(&st)
}

// WriteJSON writes to w the bytes MarshalJSON returns, one series at a
// time, so that a checkpoint of many series is never held whole in memory.
func (o *Op) WriteJSON(w io.Writer) error {
	head, err := json.Marshal(opState{Sig: o.r.sig, Field: o.r.field, Dropped: o.dropped})
	if err != nil {
		return fmt.Errorf("detect %s: %w", o.name, err)
	}
	// head ends with "series":null}: the rows go in its place.
	head = append(bytes.TrimSuffix(head, []byte("null}")), '[')
	if _, err := w.Write(head); err != nil {
		return err
	}
	// The rows and their detector states are encoded into reused buffers:
	// json.Marshal would return new slices per row (10k rows at 10k
	// series, every checkpoint).
	var rowJSON, detJSON jsonScratch
	var tags []point.Tag
	var row seriesRow // one, not one per series: encoding it makes it escape
	for n, k := range o.sortedKeys() {
		row, err = o.row(k, o.series[k], tags, &detJSON)
		if err != nil {
			return err
		}
		tags = row.Tags
		js, err := rowJSON.marshal(&row)
		if err != nil {
			return fmt.Errorf("detect %s: series %q: %w", o.name, row.Measurement, err)
		}
		if n > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if _, err := w.Write(js); err != nil {
			return err
		}
	}
	_, err = w.Write([]byte("]}"))
	return err
}

// UnmarshalJSON replaces the state with a checkpoint from MarshalJSON.
// Restored mid-alert, the next transitions are those an uninterrupted run
// would give. A checkpoint of other detector settings keeps each series'
// alert and sustain state but lets the detector learn afresh; one of
// another field is ignored.
func (o *Op) UnmarshalJSON(data []byte) error {
	var st opState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("detect %s: %w", o.name, err)
	}
	o.series = make(map[string]int32, len(st.Series))
	o.rows, o.det, o.free, o.n, o.odd = pages[entry]{}, o.r.newStates(), nil, 0, nil
	o.dropped, o.due = st.Dropped, math.MinInt64
	if st.Field != o.r.field {
		return nil
	}
	for _, row := range st.Series {
		p := point.Point{Measurement: row.Measurement, Tags: row.Tags}
		p.SortTags()
		key := string(appendKey(nil, &p))
		if i, ok := o.series[key]; ok {
			o.remove(key, i) // a row of the same series: the later wins
		}
		i := o.add(key, p.Measurement, p.Tags)
		e := o.rows.at(i)
		e.seen = row.Seen
		if err := restore(o.det, i, &e.track, row.seriesState, st.Sig == o.r.sig); err != nil {
			return fmt.Errorf("detect %s: series %q: %w", o.name, row.Measurement, err)
		}
	}
	return nil
}
