package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// This file keeps a copy of Rule.Decode as it was before the splice fast
// paths and jsonScan (and of point.ParsePrecision before the
// point.Scanner), so that the differential tests can hold the new code to
// it byte for byte.

func refDecode(r *Rule, topic string, payload []byte, dst []byte) (out []byte, n int, err error) {
	d := refDecoder{rule: r, topic: topic, out: dst}
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

type refDecoder struct {
	rule  *Rule
	topic string
	meas  string
	tags  []point.Tag
	enc   point.Encoder
	p     point.Point
	out   []byte
	n     int
}

func (d *refDecoder) prepare() error {
	r := d.rule
	var segs []string
	if r.needSegs {
		segs = strings.Split(d.topic, "/")
	}
	var err error
	var buf []byte // never reused: every rendered value keeps its own memory
	if d.meas, err = r.measurement.render(d.topic, segs, &buf); err != nil {
		return fmt.Errorf("measurement: %w", err)
	}
	for _, t := range r.tags {
		v, err := t.val.render(d.topic, segs, &buf)
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

func (d *refDecoder) emit(p *point.Point) error {
	if d.meas != "" {
		p.Measurement = d.meas
	}
	for _, t := range d.tags {
		p.SetTag(t.Key, t.Value)
	}
	if strings.HasPrefix(p.Measurement, "#") {
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

func (d *refDecoder) value(payload []byte) error {
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
	case refIsDecimal(s):
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

func refIsDecimal(s string) bool {
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

func (d *refDecoder) influx(payload []byte) error {
	points := 0
	err := refParsePrecision(payload, d.rule.precision, func(p *point.Point) error {
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

func refParsePrecision(data []byte, prec lineprotocol.Precision, fn func(p *point.Point) error) error {
	dec := lineprotocol.NewDecoderWithBytes(data)
	var p point.Point
	for line := 1; dec.Next(); line++ {
		if err := refDecodeLine(dec, prec, &p); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := fn(&p); err != nil {
			return err
		}
	}
	return nil
}

func refDecodeLine(dec *lineprotocol.Decoder, prec lineprotocol.Precision, p *point.Point) error {
	m, err := dec.Measurement()
	if err != nil {
		return err
	}
	p.Measurement = string(m)
	p.Tags, p.Fields, p.Time = p.Tags[:0], p.Fields[:0], 0
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		p.Tags = append(p.Tags, point.Tag{Key: string(k), Value: string(v)})
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		p.Fields = append(p.Fields, point.Field{Key: string(k), Value: v})
	}
	if len(p.Fields) == 0 {
		return point.ErrNoFields
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

// decodeOutcome is everything Decode shows its caller.
type decodeOutcome struct {
	out []byte
	n   int
	err string
	de  DecodeError // Err left nil
}

func decodeWith(decode func(topic string, payload, dst []byte) ([]byte, int, error), topic string, payload []byte) decodeOutcome {
	dst := []byte("prefix v=1\n")
	out, n, err := decode(topic, payload, dst[:len(dst):len(dst)])
	o := decodeOutcome{out: out, n: n}
	if err != nil {
		o.err = err.Error()
		var de *DecodeError
		if errors.As(err, &de) {
			o.de = DecodeError{Format: de.Format, Line: de.Line, Element: de.Element, Member: de.Member}
		} else {
			o.de.Format = "not a *DecodeError"
		}
	}
	return o
}

// checkDecodeAgainstReference decodes payload with r and with refDecode
// and fails on any difference.
func checkDecodeAgainstReference(t *testing.T, r *Rule, topic string, payload []byte) {
	t.Helper()
	want := decodeWith(func(topic string, p, dst []byte) ([]byte, int, error) { return refDecode(r, topic, p, dst) }, topic, payload)
	got := decodeWith(r.Decode, topic, payload)
	if want.err != got.err || want.de != got.de || want.n != got.n || !bytes.Equal(want.out, got.out) {
		t.Fatalf("topic %q payload %q:\n got %q %d %q %+v\nwant %q %d %q %+v",
			topic, payload, got.out, got.n, got.err, got.de, want.out, want.n, want.err, want.de)
	}
}

// fuzzRuleFrom builds a rule from fuzzed parts, or nil if they do not
// make a valid config.
func fuzzRuleFrom(format, precision, meas, tagKey, tagTmpl string) *Rule {
	tc := DefaultTopic()
	tc.Filter, tc.Format, tc.Precision, tc.Measurement = "#", format, precision, meas
	tc.Tags = map[string]string{"zone": "{1}"}
	if tagKey != "" {
		tc.Tags[tagKey] = tagTmpl
	}
	r, err := NewRule(tc)
	if err != nil {
		return nil
	}
	return r
}

func TestDecodeMatchesReference(t *testing.T) {
	payloads := []string{
		"temperature,sensor=s3 value=21.34 1700000000123456789\n",
		"m v=1", "m,a=1,b=2 v=1i,s=\"x\" 1700000000", "m v=1\n\n# c\nm v=2 2",
		"m,zone=x,a=1 v=1", "m,a=1,zone=x v=1 0", "m,b=1,a=2 v=1", "m,a=1,a=2 v=1",
		"m v=1.50,w=1e3,x=0.0001,y=0.00001,z=1234567.5,u=-0,t=-0.5 5", "m v=007i,w=-0i,x=0u,y=True 5",
		"m v=\"a\tb\" 5", "m v=\"a b\" 5", "m v=1 -1", "m v=1 9223372036854775807", "m v=1 9223372036",
		"m,a=1 ", "m v=1 99999999999999999999", "#m v=1", "m\\ x,k\\=1=v\\,2 f=1 1", "",
		"m v=21.30,w=21.00,x=-0.0,y=0.000,z=100.0 1\nm v=-0i,w=12i,x=0i 2\n", "m v=1234567.0,w=0.000010,x=1.000000000000001000 3",
		"m s=\"caf\u00e9\" 1", "m\u00e9,t=\u00e9 v=1", "m v=1 1\r\n", "m v=1\nm v=2 x", "m,zone=a v=1\nm,zone=b,a=1 v=2",
		"21.5", "-1e3", "true", "on", " x ", "NaN", "1e999", "\xff", "a\"b", "1.50", "-0", "+5",
		"0", "0.0001", "0.00001", "123456", "1234567", "100000", "-0.5", "21.50", "007", "0.1234567890123456",
		"123456.789012345", "123456.7890123456", "-999999.1", "0.000123456789012345", "0.0001234567890123456",
	}
	rules := []*Rule{
		fuzzRuleFrom("influx", "", "", "device", "{2}"),
		fuzzRuleFrom("influx", "s", "", "", ""),
		fuzzRuleFrom("influx", "ms", "x{1}", "a", "v"),
		fuzzRuleFrom("influx", "us", "{1}", "a", "{1}"),
		fuzzRuleFrom("value", "", "m", "device", "{2}"),
		fuzzRuleFrom("value", "", "{2}", "b", "{1}x"),
	}
	topics := []string{"site/zone-2/dev-42", "site/a b/c,d", "site/#x/y", "site/x=1/\xff", "site", "site//x"}
	for _, r := range rules {
		if r == nil {
			t.Fatal("bad rule")
		}
		for _, topic := range topics {
			for _, p := range payloads {
				checkDecodeAgainstReference(t, r, topic, []byte(p))
			}
		}
	}
}

// FuzzDecodeReference holds Rule.Decode to the copy of its former self for
// random payloads, topics, templates and precisions.
func FuzzDecodeReference(f *testing.F) {
	f.Add([]byte("temperature,sensor=s3 value=21.34 1700000000123456789\n"), "site/zone-2/dev-42/lp", "", "device", "{2}", uint8(0))
	f.Add([]byte("m,zone=a,b=1 v=1.5,s=\"x\" 17\nm v=2i\n"), "site/z/d", "x{2}", "b", "{1}", uint8(1))
	f.Add([]byte("21.5"), "site/z/d", "m", "device", "{2}", uint8(2))
	f.Add([]byte("m v=0.00012,w=1234567 1\n#c\n\nm v=t"), "site/a b/d", "", "k", "v{1}", uint8(3))
	f.Add([]byte("m\\ x,k\\=1=v\\,2 f=1 1"), "site/z/d", "", "", "", uint8(4))
	formats := []string{"influx", "value"}
	precs := []string{"", "ns", "us", "ms", "s"}
	f.Fuzz(func(t *testing.T, payload []byte, topic, meas, tagKey, tagTmpl string, which uint8) {
		format := formats[int(which)%len(formats)]
		if format == "value" && meas == "" {
			meas = "m"
		}
		r := fuzzRuleFrom(format, precs[int(which/2)%len(precs)], meas, tagKey, tagTmpl)
		if r == nil {
			return
		}
		checkDecodeAgainstReference(t, r, topic, payload)
	})
}

// refMember is one flattened member of a json object.
type refMember struct {
	key string
	val any // json.Number, string, bool
}

// json is decoder.json as it was before jsonScan: it decodes an object,
// or an array of objects, into one point each.
func (d *refDecoder) json(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			err = errors.New("empty payload")
		}
		return &DecodeError{Format: "json", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &DecodeError{Format: "json", Err: errors.New("trailing data after the JSON value")}
	}
	switch v := v.(type) {
	case map[string]any:
		return d.jsonObject(v, 0)
	case []any:
		for i, e := range v {
			obj, ok := e.(map[string]any)
			if !ok {
				return &DecodeError{Format: "json", Element: i + 1, Err: fmt.Errorf("want an object, got %s", refJSONKind(e))}
			}
			if err := d.jsonObject(obj, i+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return &DecodeError{Format: "json", Err: fmt.Errorf("want an object or an array of objects, got %s", refJSONKind(v))}
	}
}

// jsonObject turns one object into a point; elem is its 1-based position in
// an array, 0 for a lone object.
func (d *refDecoder) jsonObject(obj map[string]any, elem int) error {
	fail := func(key string, err error) error {
		return &DecodeError{Format: "json", Element: elem, Member: key, Err: err}
	}
	ms := refFlatten(nil, "", obj)
	sort.Slice(ms, func(i, j int) bool { return ms[i].key < ms[j].key })
	for i := 1; i < len(ms); i++ {
		if ms[i].key == ms[i-1].key {
			return fail(ms[i].key, errors.New("appears twice after flattening nested objects"))
		}
	}
	jr := &d.rule.json
	p := &d.p
	p.Measurement, p.Tags, p.Fields, p.Time = "", p.Tags[:0], p.Fields[:0], 0
	for _, m := range ms {
		var err error
		switch {
		case jr.timeField != "" && m.key == jr.timeField:
			p.Time, err = refJSONTime(m.val, jr.timeFormat)
		case jr.tagFields[m.key]:
			if v := refJSONString(m.val); v != "" {
				p.SetTag(m.key, v)
			}
		case jr.fields == nil || jr.fields[m.key]:
			err = refAddJSONField(p, m)
		}
		if err != nil {
			return fail(m.key, err)
		}
	}
	if len(p.Fields) == 0 {
		return fail("", errors.New("object has no fields"))
	}
	if err := d.emit(p); err != nil {
		return fail("", err)
	}
	return nil
}

// refFlatten appends the members of obj to dst, naming nested members
// parent_child and array elements parent_index; nulls are skipped.
func refFlatten(dst []refMember, prefix string, v any) []refMember {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			dst = refFlatten(dst, refJoin(prefix, k), c)
		}
	case []any:
		for i, c := range v {
			dst = refFlatten(dst, refJoin(prefix, strconv.Itoa(i)), c)
		}
	case nil:
	default:
		dst = append(dst, refMember{key: prefix, val: v})
	}
	return dst
}

func refJoin(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "_" + key
}

func refAddJSONField(p *point.Point, m refMember) error {
	var v lineprotocol.Value
	switch x := m.val.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return fmt.Errorf("number %s out of range", x)
		}
		v, _ = lineprotocol.FloatValue(f)
	case bool:
		v = lineprotocol.BoolValue(x)
	case string:
		var ok bool
		if v, ok = lineprotocol.StringValue(x); !ok {
			return errors.New("string is not valid UTF-8")
		}
	}
	p.AddField(m.key, v)
	return nil
}

// refJSONString renders a member as a tag value.
func refJSONString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func refJSONKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// refJSONTime converts a time member to nanoseconds since the epoch.
func refJSONTime(v any, format string) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		mul, ok := unixScale[format]
		if !ok {
			return 0, fmt.Errorf("time_format %s wants a string, got number", format)
		}
		ns, ok := scaleDecimal(string(x), mul)
		if !ok {
			return 0, fmt.Errorf("time %s out of range", x)
		}
		return ns, nil
	case string:
		if format != "" && format != "rfc3339" {
			return 0, fmt.Errorf("time_format %s wants a number, got string", format)
		}
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return 0, fmt.Errorf("time %q is not RFC 3339", x)
		}
		if t.Before(minTime) || t.After(maxTime) {
			return 0, fmt.Errorf("time %q out of range", x)
		}
		return t.UnixNano(), nil
	}
	return 0, fmt.Errorf("time wants a number or a string, got %s", refJSONKind(v))
}
