package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// ErrNoPoints is the reason given for a payload that holds no point.
var ErrNoPoints = errors.New("no points")

// DecodeError says why a payload could not be decoded and where.
type DecodeError struct {
	// Format is value, influx or json.
	Format string
	// Line is the 1-based line of an influx payload, 0 if unknown. Syntax
	// errors carry the physical line; errors found after parsing (encoding,
	// templates) count points, which is the same unless the payload has
	// blank or comment lines.
	Line int
	// Element is the 1-based element of a json array, 0 for an object.
	Element int
	// Member is the json member at fault, if any.
	Member string
	Err    error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Format)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Element > 0 {
		fmt.Fprintf(&b, ": element %d", e.Element)
	}
	if e.Member != "" {
		fmt.Fprintf(&b, ": member %q", e.Member)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

var formatNames = [...]string{formatValue: "value", formatInflux: "influx", formatJSON: "json"}

// Decode appends the points of payload, received on topic, to dst as
// normalized line protocol: one newline-terminated line per point, tags
// sorted, nanosecond timestamps, no timestamp for points that carry none
// (the engine gives them their ingest time). Tags from the rule's templates
// are set on every point, replacing payload tags of the same key. It returns
// the extended buffer and the number of points. On error, which is a
// *DecodeError, it returns dst unchanged and 0; a payload without points is
// an error (ErrNoPoints). Decode may be called concurrently.
func (r *Rule) Decode(topic string, payload []byte, dst []byte) (out []byte, n int, err error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.rule, d.topic, d.out = r, topic, dst
	if err := d.prepare(); err != nil {
		return dst, 0, &DecodeError{Format: formatNames[r.format], Err: err}
	}
	switch r.format {
	case formatValue:
		err = d.value(payload)
	case formatInflux:
		err = d.influx(payload)
	case formatJSON:
		err = d.json(payload)
	}
	if err == nil && d.n == 0 {
		err = &DecodeError{Format: formatNames[r.format], Err: ErrNoPoints}
	}
	if err != nil {
		return dst, 0, err
	}
	return d.out, d.n, nil
}

// decoder holds the state of one Decode call. Decode takes decoders from
// decoderPool, so that their buffers serve many calls.
type decoder struct {
	rule  *Rule
	topic string
	meas  string      // rendered measurement; empty keeps an influx line's own
	tags  []point.Tag // rendered configured tags
	segs  []string    // topic segments
	tbuf  []byte      // rendered templates joined from several parts
	enc   point.Encoder
	p     point.Point
	sc    point.Scanner
	l     point.RawLine
	js    jsonScan
	out   []byte
	n     int
}

var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// release resets d, dropping its references to the caller's data, and
// returns it to decoderPool.
func (d *decoder) release() {
	clear(d.tags)
	clear(d.segs)
	clear(d.p.Fields) // string values share memory with a payload
	clear(d.p.Tags)
	d.rule, d.topic, d.meas, d.out, d.n = nil, "", "", nil, 0
	d.tags, d.segs, d.p.Fields = d.tags[:0], d.segs[:0], d.p.Fields[:0]
	d.sc.Reset(nil)
	d.l = point.RawLine{Tags: d.l.Tags[:0], Fields: d.l.Fields[:0]}
	d.js.release()
	decoderPool.Put(d)
}

// prepare renders the measurement and tag templates for the topic.
func (d *decoder) prepare() error {
	r := d.rule
	var segs []string
	if r.needSegs {
		d.segs = splitTopic(d.segs[:0], d.topic)
		segs = d.segs
	}
	d.tbuf = d.tbuf[:0]
	var err error
	if d.meas, err = r.measurement.render(d.topic, segs, &d.tbuf); err != nil {
		return fmt.Errorf("measurement: %w", err)
	}
	for _, t := range r.tags {
		v, err := t.val.render(d.topic, segs, &d.tbuf)
		if err != nil {
			return fmt.Errorf("tags.%s: %w", t.key, err)
		}
		if v == "" {
			return fmt.Errorf("tags.%s: template %q gives an empty value for topic %q", t.key, t.val.src, d.topic)
		}
		d.tags = append(d.tags, point.Tag{Key: t.key, Value: v})
	}
	return nil
}

// splitTopic appends the levels of topic to dst, as strings.Split(topic,
// "/") returns them.
func splitTopic(dst []string, topic string) []string {
	if cap(dst) == 0 {
		dst = make([]string, 0, strings.Count(topic, "/")+1)
	}
	for {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return append(dst, topic)
		}
		dst = append(dst, topic[:i])
		topic = topic[i+1:]
	}
}

// emit applies the configured measurement and tags to p and appends it.
func (d *decoder) emit(p *point.Point) error {
	if d.meas != "" {
		p.Measurement = d.meas
	}
	for _, t := range d.tags {
		p.SetTag(t.Key, t.Value)
	}
	if strings.HasPrefix(p.Measurement, "#") {
		// A line starting with '#' is a comment: the point would vanish.
		return fmt.Errorf("measurement %q must not start with '#'", p.Measurement)
	}
	out, err := d.enc.Append(d.out, p)
	if err != nil {
		return err
	}
	d.out = out
	d.n++
	return nil
}

// value decodes a bare value: a decimal number becomes a float field, true
// and false a boolean, anything else a string; surrounding space is trimmed.
func (d *decoder) value(payload []byte) error {
	if d.spliceValue(payload) {
		return nil
	}
	fail := func(format string, a ...any) error {
		return &DecodeError{Format: "value", Err: fmt.Errorf(format, a...)}
	}
	s := string(bytes.TrimSpace(payload))
	var v lineprotocol.Value
	switch {
	case s == "":
		return fail("empty payload")
	case s == "true" || s == "false":
		v = lineprotocol.BoolValue(s == "true")
	case isDecimal(s):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fail("number %q out of range", s)
		}
		v, _ = lineprotocol.FloatValue(f)
	default:
		var ok bool
		if v, ok = lineprotocol.StringValue(s); !ok {
			return fail("payload is neither a number nor valid UTF-8 text")
		}
	}
	p := &d.p
	p.Measurement, p.Tags, p.Time = "", p.Tags[:0], 0
	p.Fields = append(p.Fields[:0], point.Field{Key: d.rule.field, Value: v})
	if err := d.emit(p); err != nil {
		return &DecodeError{Format: "value", Err: err}
	}
	return nil
}

// isDecimal reports whether s is a plain decimal number: an optional sign,
// digits with an optional fraction, an optional exponent. Unlike
// strconv.ParseFloat it refuses inf, nan, hex and underscores.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// influx decodes line protocol in the rule's precision.
func (d *decoder) influx(payload []byte) error {
	if d.spliceInflux(payload) {
		return nil
	}
	points := 0
	err := point.ParsePrecision(payload, d.rule.precision, func(p *point.Point) error {
		points++
		if err := d.emit(p); err != nil {
			return &DecodeError{Format: "influx", Line: points, Err: err}
		}
		return nil
	})
	var de *DecodeError
	if err == nil || errors.As(err, &de) {
		return err
	}
	// point wraps parse errors as "line <point number>: <cause>"; a syntax
	// error from the line-protocol decoder knows its physical line.
	cause := errors.Unwrap(err)
	if cause == nil {
		cause = err
	}
	var se *lineprotocol.DecodeError
	if errors.As(cause, &se) {
		return &DecodeError{Format: "influx", Line: int(se.Line), Err: fmt.Errorf("column %d: %w", se.Column, se.Err)}
	}
	return &DecodeError{Format: "influx", Line: points + 1, Err: cause}
}
