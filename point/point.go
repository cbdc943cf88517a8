package point

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Tag is one key=value pair of a point's tag set.
type Tag struct {
	Key, Value string
}

// Field is one typed field of a point. Value holds float, int, uint, string
// or bool, as the line protocol allows.
type Field struct {
	Key   string
	Value lineprotocol.Value
}

// Point is one measurement at one instant. Tags are kept sorted by key (use
// SetTag or SortTags). Time is in nanoseconds since the Unix epoch; zero
// means "no timestamp", in which case the engine uses the ingest time of the
// log entry that holds the point.
type Point struct {
	Measurement string
	Tags        []Tag
	Fields      []Field
	Time        int64
}

// ErrNoFields is returned when a point would be written without fields, which
// the line protocol forbids.
var ErrNoFields = errors.New("point has no fields")

// SetTag sets key to value, replacing an existing tag of that key and keeping
// the tags sorted.
func (p *Point) SetTag(key, value string) {
	i := sort.Search(len(p.Tags), func(i int) bool { return p.Tags[i].Key >= key })
	if i < len(p.Tags) && p.Tags[i].Key == key {
		p.Tags[i].Value = value
		return
	}
	p.Tags = append(p.Tags, Tag{})
	copy(p.Tags[i+1:], p.Tags[i:])
	p.Tags[i] = Tag{Key: key, Value: value}
}

// Tag returns the value of tag key and whether it is present.
func (p *Point) Tag(key string) (string, bool) {
	for _, t := range p.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// SortTags sorts the tags by key; later duplicates win.
func (p *Point) SortTags() {
	if slices.IsSortedFunc(p.Tags, compareTags) && !hasDupKeys(p.Tags) {
		return
	}
	slices.SortStableFunc(p.Tags, compareTags)
	out := p.Tags[:0]
	for i, t := range p.Tags {
		if i+1 < len(p.Tags) && p.Tags[i+1].Key == t.Key {
			continue
		}
		out = append(out, t)
	}
	p.Tags = out
}

func compareTags(a, b Tag) int { return strings.Compare(a.Key, b.Key) }

// hasDupKeys reports whether sorted tags hold a key twice.
func hasDupKeys(tags []Tag) bool {
	for i := 1; i < len(tags); i++ {
		if tags[i].Key == tags[i-1].Key {
			return true
		}
	}
	return false
}

// AddField appends a field. It does not check for duplicates.
func (p *Point) AddField(key string, v lineprotocol.Value) {
	p.Fields = append(p.Fields, Field{Key: key, Value: v})
}

// Float returns a numeric field value as float64; ok is false for strings,
// booleans and absent fields.
func Float(v lineprotocol.Value) (f float64, ok bool) {
	switch v.Kind() {
	case lineprotocol.Float:
		return v.FloatV(), true
	case lineprotocol.Int:
		return float64(v.IntV()), true
	case lineprotocol.Uint:
		return float64(v.UintV()), true
	}
	return 0, false
}

// String renders the point as one line of line protocol without the newline.
func (p *Point) String() string {
	b, err := AppendLine(nil, p)
	if err != nil {
		return fmt.Sprintf("<invalid point %q: %v>", p.Measurement, err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// AppendLine appends p as one line of line protocol (nanosecond precision,
// newline-terminated) to dst. Tags must be sorted. A zero Time is written
// without a timestamp. On error dst is returned unchanged.
func AppendLine(dst []byte, p *Point) ([]byte, error) {
	var enc lineprotocol.Encoder
	return appendLine(&enc, dst, p)
}

// appendLine writes p directly when appendPlain can, else through enc.
func appendLine(enc *lineprotocol.Encoder, dst []byte, p *Point) ([]byte, error) {
	if out, ok := appendPlain(dst, p); ok {
		return out, nil
	}
	return encodeLine(enc, dst, p)
}

// encodeLine appends p through the line-protocol encoder, which
// validates and escapes every name and value.
func encodeLine(enc *lineprotocol.Encoder, dst []byte, p *Point) ([]byte, error) {
	if len(p.Fields) == 0 {
		return dst, fmt.Errorf("measurement %q: %w", p.Measurement, ErrNoFields)
	}
	enc.SetBuffer(dst)
	enc.SetPrecision(lineprotocol.Nanosecond)
	enc.StartLine(p.Measurement)
	for _, t := range p.Tags {
		enc.AddTag(t.Key, t.Value)
	}
	for _, f := range p.Fields {
		enc.AddField(f.Key, f.Value)
	}
	if p.Time != 0 {
		enc.EndLine(time.Unix(0, p.Time))
	} else {
		enc.EndLine(time.Time{})
	}
	if err := enc.Err(); err != nil {
		return dst, fmt.Errorf("encode %q: %w", p.Measurement, err)
	}
	return enc.Bytes(), nil
}

// Encoder appends points as line protocol, reusing its state between calls.
// The zero value is ready to use; an Encoder is not safe for concurrent use.
type Encoder struct {
	enc lineprotocol.Encoder
}

// Append appends p to dst as one newline-terminated line.
func (e *Encoder) Append(dst []byte, p *Point) ([]byte, error) {
	return appendLine(&e.enc, dst, p)
}

// Parse decodes newline-separated line protocol with nanosecond timestamps,
// calling fn for each point. The point passed to fn is reused between calls;
// fn must copy what it keeps. A line without a timestamp gives Time 0.
func Parse(data []byte, fn func(p *Point) error) error {
	return ParsePrecision(data, lineprotocol.Nanosecond, fn)
}

// ParsePrecision is Parse with timestamps in the given precision.
func ParsePrecision(data []byte, prec lineprotocol.Precision, fn func(p *Point) error) error {
	var (
		sc Scanner
		l  RawLine
		p  Point
	)
	return parseFast(&sc, &l, &p, data, prec, false, copyString, fn)
}

// parseFast parses data with the Scanner, calling the full parser for the
// rest of data from the first entry the Scanner leaves to it. The strings
// of scanned tokens, which lie inside data, are borrowed if borrow is set,
// else copied; slow makes those of the full parser, which may lie in its
// own buffer.
func parseFast(sc *Scanner, l *RawLine, p *Point, data []byte, prec lineprotocol.Precision,
	borrow bool, slow func([]byte) string, fn func(p *Point) error) error {
	sc.Reset(data)
	for entry := 0; ; entry++ {
		start := sc.Offset()
		switch sc.Next(l) {
		case ScanEnd:
			return nil
		case ScanLine:
			if fill(p, l, prec, borrow) {
				if err := fn(p); err != nil {
					return err
				}
				continue
			}
		}
		return parseSlow(data, start, entry, prec, slow, p, fn)
	}
}

// fill sets p from l. It reports false when the timestamp is out of range
// for prec, which the full parser reports.
func fill(p *Point, l *RawLine, prec lineprotocol.Precision, borrow bool) bool {
	str := func(b []byte) string {
		if borrow {
			return unsafeString(b)
		}
		return string(b)
	}
	p.Measurement = str(l.Measurement)
	p.Tags, p.Fields, p.Time = p.Tags[:0], p.Fields[:0], 0
	sorted := true
	for i, t := range l.Tags {
		p.Tags = append(p.Tags, Tag{Key: str(t.Key), Value: str(t.Value)})
		sorted = sorted && (i == 0 || keyLess(p.Tags[i-1].Key, p.Tags[i].Key))
	}
	for i := range l.Fields {
		f := &l.Fields[i]
		v, ok := f.Parse()
		if !ok {
			return false
		}
		p.Fields = append(p.Fields, Field{Key: str(f.Key), Value: v})
	}
	if l.Time != nil {
		n, mul := l.TimeValue, int64(prec.Duration())
		if n > math.MaxInt64/mul || n < math.MinInt64/mul {
			return false
		}
		p.Time = n * mul
	}
	if !sorted {
		p.SortTags()
	}
	return true
}

// keyLess is a < b, deciding on the first bytes when they differ, as
// they usually do in a tag set.
func keyLess(a, b string) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// parseSlow parses data[off:], where entry entries precede off, with the
// full parser, numbering lines and entries as if it had parsed data from
// the start.
func parseSlow(data []byte, off, entry int, prec lineprotocol.Precision, str func([]byte) string,
	p *Point, fn func(p *Point) error) error {
	lines := int64(bytes.Count(data[:off], []byte{'\n'}))
	dec := lineprotocol.NewDecoderWithBytes(data[off:])
	for line := entry + 1; dec.Next(); line++ {
		if err := decodeLine(dec, prec, str, p); err != nil {
			if se, ok := err.(*lineprotocol.DecodeError); ok && lines > 0 {
				err = &lineprotocol.DecodeError{Line: se.Line + lines, Column: se.Column, Err: se.Err}
			}
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func copyString(b []byte) string { return string(b) }

// Decoder parses line protocol like Parse without allocating per point:
// the measurement, tag and field strings of the point passed to fn share
// memory with data (or, for a token with escapes, with the parser's
// buffer), so they are valid only until fn returns and data must not change
// meanwhile. fn must copy with strings.Clone every string it keeps. The
// zero value is ready to use; a Decoder is not safe for concurrent use.
type Decoder struct {
	p      Point
	sc     Scanner
	l      RawLine
	lo, hi uintptr // the address range of data
}

// Parse is the package-level Parse with borrowed strings.
func (d *Decoder) Parse(data []byte, fn func(p *Point) error) error {
	if len(data) == 0 {
		return nil
	}
	d.lo = uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	d.hi = d.lo + uintptr(len(data))
	err := parseFast(&d.sc, &d.l, &d.p, data, lineprotocol.Nanosecond, true, d.str, fn)
	d.release()
	return err
}

// release drops the references d keeps into the data it parsed, so that
// a reused Decoder does not keep the last batch alive.
func (d *Decoder) release() {
	d.sc.Reset(nil)
	d.p.Measurement = ""
	clear(d.p.Tags[:cap(d.p.Tags)])
	clear(d.p.Fields[:cap(d.p.Fields)])
	tags, fields := d.l.Tags[:cap(d.l.Tags)], d.l.Fields[:cap(d.l.Fields)]
	clear(tags)
	clear(fields)
	d.l = RawLine{Tags: tags[:0], Fields: fields[:0]}
}

// str borrows b when it lies inside data, which the parser never writes
// to; a token the parser unescaped lives in a buffer it reuses within the
// line, so it is copied.
func (d *Decoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(b))); a < d.lo || a+uintptr(len(b)) > d.hi {
		return string(b)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func decodeLine(dec *lineprotocol.Decoder, prec lineprotocol.Precision, str func([]byte) string, p *Point) error {
	m, err := dec.Measurement()
	if err != nil {
		return err
	}
	p.Measurement = str(m)
	p.Tags, p.Fields, p.Time = p.Tags[:0], p.Fields[:0], 0
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		p.Tags = append(p.Tags, Tag{Key: str(k), Value: str(v)})
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		p.Fields = append(p.Fields, Field{Key: str(k), Value: v})
	}
	if len(p.Fields) == 0 {
		return ErrNoFields
	}
	ts, err := dec.TimeBytes()
	if err != nil {
		return err
	}
	if ts != nil {
		n, err := strconv.ParseInt(string(ts), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid timestamp %q: %w", ts, err)
		}
		mul := int64(prec.Duration())
		if n > math.MaxInt64/mul || n < math.MinInt64/mul {
			return fmt.Errorf("timestamp %q out of range", ts)
		}
		p.Time = n * mul
	}
	p.SortTags()
	return nil
}

// Clone returns a deep copy of p that shares nothing with it.
func (p *Point) Clone() Point {
	c := Point{Measurement: p.Measurement, Time: p.Time}
	c.Tags = append([]Tag(nil), p.Tags...)
	c.Fields = make([]Field, len(p.Fields))
	for i, f := range p.Fields {
		c.Fields[i] = Field{Key: f.Key, Value: cloneValue(f.Value)}
	}
	return c
}

// cloneValue copies string values, whose bytes may alias a decode buffer.
func cloneValue(v lineprotocol.Value) lineprotocol.Value {
	if v.Kind() != lineprotocol.String {
		return v
	}
	c, _ := lineprotocol.StringValue(v.StringV())
	return c
}
