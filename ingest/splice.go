package ingest

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// The fast paths below write the normalized line of a point directly,
// byte for byte as decoding it into a point.Point and encoding that with
// point.Encoder would, but only for input where that is easy to prove:
// tokens that need no escaping, numbers already written the way the
// encoder writes them, tags already sorted. For anything else they report
// false and Decode takes the general path, which stays the reference.

// plainConfig reports whether the rendered measurement and tags can be
// written as they are: valid for the encoder, nothing to escape, and no
// measurement that starts a comment.
func (d *decoder) plainConfig() bool {
	if d.meas != "" && (!point.Plain(d.meas) || d.meas[0] == '#') {
		return false
	}
	for _, t := range d.tags {
		if !point.Plain(t.Key) || !point.Plain(t.Value) {
			return false
		}
	}
	return true
}

// spliceInflux is the fast path of influx: each line the point.Scanner
// accepts is copied with the configured measurement and tags spliced in.
// On false nothing is appended and d.n is unchanged.
func (d *decoder) spliceInflux(payload []byte) bool {
	if !d.plainConfig() {
		return false
	}
	d.grow(len(payload), bytes.Count(payload, []byte{'\n'})+1)
	var (
		start   = len(d.out)
		n       int
		ok      bool
		spliced = d.out
	)
	d.sc.Reset(payload)
	for {
		switch d.sc.Next(&d.l) {
		case point.ScanLine:
			if spliced, ok = d.spliceLine(spliced, &d.l); ok {
				n++
				continue
			}
		case point.ScanEnd:
			if n > 0 {
				d.out, d.n = spliced, n
				return true
			}
		}
		d.out = spliced[:start]
		return false
	}
}

// grow makes room in d.out for the output of size bytes of payload in
// lines lines, so that the caller's buffer (often nil) grows once, not
// once per doubling.
func (d *decoder) grow(size, lines int) {
	per := len(d.meas) + 10 // the measurement, digits a precision adds
	for _, t := range d.tags {
		per += len(t.Key) + len(t.Value) + 2
	}
	d.out = slices.Grow(d.out, size+lines*per)
}

// spliceLine appends the normalized form of l to dst.
func (d *decoder) spliceLine(dst []byte, l *point.RawLine) ([]byte, bool) {
	var t, mul int64
	if l.Time != nil {
		n := l.TimeValue
		if mul = int64(d.rule.precision.Duration()); n > math.MaxInt64/mul || n < math.MinInt64/mul {
			return dst, false
		}
		t = n * mul
	}
	if d.meas != "" {
		dst = append(dst, d.meas...)
	} else {
		dst = append(dst, l.Measurement...)
	}
	conf := d.tags
	for i, tag := range l.Tags {
		if i > 0 && bytes.Compare(l.Tags[i-1].Key, tag.Key) >= 0 {
			return dst, false // SortTags would reorder or drop tags
		}
		for len(conf) > 0 && conf[0].Key < unsafeString(tag.Key) {
			dst = appendTag(dst, conf[0].Key, conf[0].Value)
			conf = conf[1:]
		}
		if len(conf) > 0 && conf[0].Key == unsafeString(tag.Key) {
			continue // SetTag replaces it; written with the rest
		}
		dst = append(dst, ',')
		dst = append(dst, tag.Key...)
		dst = append(dst, '=')
		dst = append(dst, tag.Value...)
	}
	for _, c := range conf {
		dst = appendTag(dst, c.Key, c.Value)
	}
	if canonicalFields(l.Fields) {
		dst = append(dst, ' ')
		dst = append(dst, l.FieldSection...)
	} else {
		for i := range l.Fields {
			dst = appendField(dst, i, &l.Fields[i])
		}
	}
	if t != 0 {
		dst = append(dst, ' ')
		if mul == 1 && canonicalInt(l.Time, true) {
			dst = append(dst, l.Time...)
		} else {
			dst = strconv.AppendInt(dst, t, 10)
		}
	}
	return append(dst, '\n'), true
}

// appendField appends field i, writing its value as the encoder would:
// as written when that is the same, else re-encoded.
func appendField(dst []byte, i int, f *point.RawField) []byte {
	if i == 0 {
		dst = append(dst, ' ')
	} else {
		dst = append(dst, ',')
	}
	dst = append(dst, f.Key...)
	dst = append(dst, '=')
	if f.Kind == lineprotocol.Float {
		if t := trimFraction(f.Value); canonicalFloat(t) {
			return append(dst, t...)
		}
	}
	v, _ := f.Parse() // cannot fail: the Scanner checked every value
	return v.AppendBytes(dst)
}

// trimFraction drops the trailing zeros of a fraction, and the point if
// nothing is left of it: 21.50 and 21.5 are the same number.
func trimFraction(v []byte) []byte {
	if bytes.IndexByte(v, '.') < 0 {
		return v
	}
	for len(v) > 0 && v[len(v)-1] == '0' {
		v = v[:len(v)-1]
	}
	if len(v) > 0 && v[len(v)-1] == '.' {
		v = v[:len(v)-1]
	}
	return v
}

func appendTag(dst []byte, k, v string) []byte {
	dst = append(dst, ',')
	dst = append(dst, k...)
	dst = append(dst, '=')
	return append(dst, v...)
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// canonicalFields reports whether every field value is written exactly as
// lineprotocol.Value.AppendBytes would write the value it parses to.
func canonicalFields(fields []point.RawField) bool {
	for i := range fields {
		v := fields[i].Value
		var ok bool
		switch fields[i].Kind {
		case lineprotocol.Float:
			ok = canonicalFloat(v)
		case lineprotocol.Int:
			ok = canonicalInt(v, true)
		case lineprotocol.Uint:
			ok = canonicalInt(v, false)
		case lineprotocol.Bool:
			ok = string(v) == "true" || string(v) == "false"
		case lineprotocol.String:
			ok = bytes.IndexByte(v, '\r') < 0 && bytes.IndexByte(v, '\t') < 0 // the Scanner refused \\, " and \n
		}
		if !ok {
			return false
		}
	}
	return true
}

// canonicalInt reports whether v is an integer without leading zeros or a
// negative zero (only if signed).
func canonicalInt(v []byte, signed bool) bool {
	if signed && len(v) > 0 && v[0] == '-' {
		v = v[1:]
		if len(v) > 0 && v[0] == '0' {
			return false
		}
	}
	if len(v) == 0 || len(v) > 1 && v[0] == '0' {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// canonicalFloat reports whether strconv.FormatFloat(x, 'g', -1, 64) of the
// value x of v gives v back. It accepts -ddd.ddd without exponent, leading
// zeros, trailing fraction zeros or negative zero, with at most 15
// significant digits (so the shortest form that reads back as x is v's own
// digits), at most 6 integer digits and at most 3 zeros after "0." (so
// FormatFloat picks %f, not %e).
func canonicalFloat(v []byte) bool {
	i := 0
	if len(v) > 0 && v[0] == '-' {
		i = 1
	}
	s := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	intLen := i - s
	if intLen == 0 || intLen > 6 || intLen > 1 && v[s] == '0' {
		return false
	}
	zero := v[s] == '0'
	if i == len(v) {
		return !zero || s == 0
	}
	if v[i] != '.' {
		return false
	}
	i++
	f := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i != len(v) || i == f || v[i-1] == '0' {
		return false
	}
	if !zero {
		return intLen+i-f <= 15
	}
	z := 0
	for v[f+z] == '0' {
		z++
	}
	return z <= 3 && i-f-z <= 15
}

// spliceValue is the fast path of value for numbers, booleans and strings
// that need no escaping. On false nothing is appended.
func (d *decoder) spliceValue(payload []byte) bool {
	if d.meas == "" || !d.plainConfig() || !point.Plain(d.rule.field) {
		return false
	}
	s := bytes.TrimSpace(payload)
	if len(s) == 0 {
		return false
	}
	d.grow(len(s)+len(d.rule.field)+16, 1) // 16: quotes, separators, float digits
	dst := append(d.out, d.meas...)
	for _, t := range d.tags {
		dst = appendTag(dst, t.Key, t.Value)
	}
	dst = append(dst, ' ')
	dst = append(dst, d.rule.field...)
	dst = append(dst, '=')
	switch str := unsafeString(s); {
	case str == "true" || str == "false":
		dst = append(dst, str...)
	case canonicalFloat(s):
		dst = append(dst, s...) // as AppendFloat below would write it
	case isDecimal(str):
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return false
		}
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	case utf8.Valid(s) && bytes.IndexAny(s, "\\\"\n\r\t") < 0:
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	default:
		return false
	}
	d.out, d.n = append(dst, '\n'), 1
	return true
}
