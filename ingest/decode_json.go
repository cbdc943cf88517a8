package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
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

// json decodes an object, or an array of objects, into one point each.
//
// The payload is read once by d.js, which keeps the flattened members in
// buffers that the pooled decoder reuses, so a message costs no
// allocation. The parser accepts exactly what encoding/json accepts; for
// anything else encoding/json reads the payload again, only to name the
// error as it always has (jsonSyntaxError).
func (d *decoder) json(payload []byte) error {
	js := &d.js
	if !js.parse(payload) {
		if js.tooLong {
			return &DecodeError{Format: "json", Err: fmt.Errorf("flattened member names pass %d MiB", jsonMaxNames>>20)}
		}
		return &DecodeError{Format: "json", Err: jsonSyntaxError(payload)}
	}
	switch js.top {
	case jsonObject:
		return d.jsonObject(js.ms, 0)
	case jsonArray:
		for i, e := range js.elems {
			if e.kind != jsonObject {
				return &DecodeError{Format: "json", Element: i + 1, Err: fmt.Errorf("want an object, got %s", e.kind)}
			}
			if err := d.jsonObject(js.ms[e.from:e.to], i+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return &DecodeError{Format: "json", Err: fmt.Errorf("want an object or an array of objects, got %s", js.top)}
	}
}

// jsonSyntaxError is the error encoding/json finds in a payload that
// jsonScan rejected.
func jsonSyntaxError(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return errors.New("empty payload")
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	// jsonScan and encoding/json disagree: FuzzDecodeJSONReference
	// looks for such payloads.
	return errors.New("payload not understood")
}

// jsonObject turns the members of one object into a point; elem is its
// 1-based position in an array, 0 for a lone object.
func (d *decoder) jsonObject(ms []jsonMember, elem int) error {
	js := &d.js
	fail := func(key string, err error) error {
		return &DecodeError{Format: "json", Element: elem, Member: strings.Clone(key), Err: err}
	}
	live := ms[:0]
	for _, m := range ms {
		if !m.dead {
			live = append(live, m)
		}
	}
	js.sortMembers(live)
	for i := 1; i < len(live); i++ {
		if bytes.Equal(js.key(live[i]), js.key(live[i-1])) {
			return fail(unsafeString(js.key(live[i])), errors.New("appears twice after flattening nested objects"))
		}
	}
	jr := &d.rule.json
	p := &d.p
	p.Measurement, p.Tags, p.Fields, p.Time = "", p.Tags[:0], p.Fields[:0], 0
	for _, m := range live {
		key := unsafeString(js.key(m))
		var err error
		switch {
		case jr.timeField != "" && key == jr.timeField:
			p.Time, err = jsonTime(m.kind, js.text(m), jr.timeFormat)
		case jr.tagFields[key]:
			if v := js.text(m); v != "" {
				p.SetTag(key, v)
			}
		case jr.fields == nil || jr.fields[key]:
			err = addJSONField(p, key, m.kind, js.val(m))
		}
		if err != nil {
			return fail(key, err)
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

// addJSONField adds the member key of the given kind and text (a number's
// literal, a string's value) to p as a field. A string value shares the
// memory of text.
func addJSONField(p *point.Point, key string, kind jsonKind, text []byte) error {
	var v lineprotocol.Value
	switch kind {
	case jsonNumber:
		f, err := strconv.ParseFloat(unsafeString(text), 64)
		if err != nil {
			return fmt.Errorf("number %s out of range", text)
		}
		v, _ = lineprotocol.FloatValue(f)
	case jsonBool:
		v = lineprotocol.BoolValue(string(text) == "true")
	case jsonString:
		var err error
		if v, err = lineprotocol.NewValueFromBytes(lineprotocol.String, text); err != nil {
			return errors.New("string is not valid UTF-8")
		}
	}
	p.AddField(key, v)
	return nil
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// unixScale is the number of nanoseconds in one unit of each numeric
// time format; the empty format reads numbers as seconds.
var unixScale = map[string]int64{"": 1e9, "unix": 1e9, "unix_ms": 1e6, "unix_us": 1e3, "unix_ns": 1}

// jsonTime converts a time member, of the given kind and text, to
// nanoseconds since the epoch.
func jsonTime(kind jsonKind, text string, format string) (int64, error) {
	switch kind {
	case jsonNumber:
		mul, ok := unixScale[format]
		if !ok {
			return 0, fmt.Errorf("time_format %s wants a string, got number", format)
		}
		ns, ok := scaleDecimal(text, mul)
		if !ok {
			return 0, fmt.Errorf("time %s out of range", text)
		}
		return ns, nil
	case jsonString:
		if format != "" && format != "rfc3339" {
			return 0, fmt.Errorf("time_format %s wants a number, got string", format)
		}
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return 0, fmt.Errorf("time %q is not RFC 3339", text)
		}
		if t.Before(minTime) || t.After(maxTime) {
			return 0, fmt.Errorf("time %q out of range", text)
		}
		return t.UnixNano(), nil
	}
	return 0, fmt.Errorf("time wants a number or a string, got %s", kind)
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
