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
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// jsonRule is the compiled json section of a topic entry. Member names
// refer to flattened keys: {"a":{"b":1}} has the member "a_b".
type jsonRule struct {
	timeField  string
	timeFormat string
	fields     map[string]bool // nil keeps every member
	tagFields  map[string]bool
}

func newJSONRule(c JSONConfig) jsonRule {
	r := jsonRule{timeField: c.TimeField, timeFormat: c.TimeFormat, tagFields: set(c.TagFields)}
	if len(c.Fields) > 0 {
		r.fields = set(c.Fields)
	}
	return r
}

func set(keys []string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// member is one flattened member of a json object.
type member struct {
	key string
	val any // json.Number, string, bool
}

// json decodes an object, or an array of objects, into one point each.
func (d *decoder) json(payload []byte) error {
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
				return &DecodeError{Format: "json", Element: i + 1, Err: fmt.Errorf("want an object, got %s", jsonKind(e))}
			}
			if err := d.jsonObject(obj, i+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return &DecodeError{Format: "json", Err: fmt.Errorf("want an object or an array of objects, got %s", jsonKind(v))}
	}
}

// jsonObject turns one object into a point; elem is its 1-based position in
// an array, 0 for a lone object.
func (d *decoder) jsonObject(obj map[string]any, elem int) error {
	fail := func(key string, err error) error {
		return &DecodeError{Format: "json", Element: elem, Member: key, Err: err}
	}
	ms := flatten(nil, "", obj)
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
			p.Time, err = jsonTime(m.val, jr.timeFormat)
		case jr.tagFields[m.key]:
			if v := jsonString(m.val); v != "" {
				p.SetTag(m.key, v)
			}
		case jr.fields == nil || jr.fields[m.key]:
			err = addJSONField(p, m)
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

// flatten appends the members of obj to dst, naming nested members
// parent_child and array elements parent_index; nulls are skipped.
func flatten(dst []member, prefix string, v any) []member {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			dst = flatten(dst, join(prefix, k), c)
		}
	case []any:
		for i, c := range v {
			dst = flatten(dst, join(prefix, strconv.Itoa(i)), c)
		}
	case nil:
	default:
		dst = append(dst, member{key: prefix, val: v})
	}
	return dst
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "_" + key
}

func addJSONField(p *point.Point, m member) error {
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

// jsonString renders a member as a tag value.
func jsonString(v any) string {
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

func jsonKind(v any) string {
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

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// unixScale is the number of nanoseconds in one unit of each numeric
// time format; the empty format reads numbers as seconds.
var unixScale = map[string]int64{"": 1e9, "unix": 1e9, "unix_ms": 1e6, "unix_us": 1e3, "unix_ns": 1}

// jsonTime converts a time member to nanoseconds since the epoch.
func jsonTime(v any, format string) (int64, error) {
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
	return 0, fmt.Errorf("time wants a number or a string, got %s", jsonKind(v))
}

// scaleDecimal returns the JSON number s times mul (a power of ten) as an
// int64, exactly, dropping digits below 1. It reports false if the result
// does not fit.
func scaleDecimal(s string, mul int64) (int64, bool) {
	neg := s != "" && s[0] == '-'
	if neg {
		s = s[1:]
	}
	mant, exp := splitDecimal(s)
	for m := mul; m > 1; m /= 10 {
		exp++
	}
	for len(mant) > 0 && mant[0] == '0' {
		mant = mant[1:]
	}
	if mant == "" {
		return 0, true
	}
	if exp < 0 {
		if -exp >= len(mant) {
			return 0, true
		}
		mant, exp = mant[:len(mant)+exp], 0
	}
	if len(mant)+exp > 19 {
		return 0, false
	}
	u, err := strconv.ParseUint(mant, 10, 64)
	if err != nil {
		return 0, false
	}
	for ; exp > 0; exp-- {
		if u > math.MaxUint64/10 {
			return 0, false
		}
		u *= 10
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	case neg && u <= 1<<63:
		return -int64(u-1) - 1, true
	}
	return 0, false
}

// splitDecimal splits an unsigned JSON number into its significant digits
// and a decimal exponent: "12.5e3" gives "125", 2.
func splitDecimal(s string) (mant string, exp int) {
	intPart, rest := s, ""
	if i := indexAny(s, ".eE"); i >= 0 {
		intPart, rest = s[:i], s[i:]
	}
	frac := ""
	if len(rest) > 0 && rest[0] == '.' {
		j := indexAny(rest, "eE")
		if j < 0 {
			j = len(rest)
		}
		frac, rest = rest[1:j], rest[j:]
	}
	if len(rest) > 0 {
		exp = clampedExp(rest[1:])
	}
	return intPart + frac, exp - len(frac)
}

// clampedExp parses an exponent, clamping it far beyond any int64 so that
// huge exponents neither overflow nor cost time.
func clampedExp(s string) int {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	e := 0
	for i := 0; i < len(s) && e < 100000; i++ {
		e = e*10 + int(s[i]-'0')
	}
	if neg {
		return -e
	}
	return e
}

func indexAny(s, chars string) int {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return i
			}
		}
	}
	return -1
}
