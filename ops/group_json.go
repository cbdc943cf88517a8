package ops

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends to b the bytes json.Marshal writes for g and returns
// it. It writes the common groups (no tag aggregates, no distinct count of
// a field) itself, allocating nothing once b has room: a checkpoint of
// many groups then costs no garbage per group. Others go through
// json.Marshal.
func (g *Group) AppendJSON(b []byte) ([]byte, error) {
	if len(g.TagAggs) > 0 || g.hasDistinct() {
		js, err := json.Marshal(g)
		if err != nil {
			return b, fmt.Errorf("aggregate group: %w", err)
		}
		return append(b, js...), nil
	}
	b = append(b, '{')
	sep := byte(0)
	if len(g.Tags) > 0 {
		b = append(b, `"tags":[`...)
		for i, t := range g.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Key":`...)
			b = AppendJSONString(b, t.Key)
			b = append(b, `,"Value":`...)
			b = AppendJSONString(b, t.Value)
			b = append(b, '}')
		}
		b, sep = append(b, ']'), ','
	}
	if len(g.Fields) > 0 {
		if sep != 0 {
			b = append(b, sep)
		}
		b = append(b, `"fields":[`...)
		for i := range g.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = g.Fields[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func (g *Group) hasDistinct() bool {
	for i := range g.Fields {
		if e := g.Fields[i].Extra; e != nil && e.distinct != nil {
			return true
		}
	}
	return false
}

// appendJSON appends f as encoding/json writes it (no distinct count).
func (f *FieldState) appendJSON(b []byte) []byte {
	s := &f.State
	b = append(b, `{"key":`...)
	b = AppendJSONString(b, f.Key)
	b = append(b, `,"state":{"n":`...)
	b = strconv.AppendInt(b, s.N, 10)
	b = appendJSONFloat(append(b, `,"sum":`...), s.Sum)
	b = appendJSONFloat(append(b, `,"min":`...), s.Min)
	b = appendJSONFloat(append(b, `,"max":`...), s.Max)
	b = appendJSONFloat(append(b, `,"first":`...), s.First)
	b = strconv.AppendInt(append(b, `,"first_t":`...), s.FirstTime, 10)
	b = appendJSONFloat(append(b, `,"last":`...), s.Last)
	b = strconv.AppendInt(append(b, `,"last_t":`...), s.LastTime, 10)
	b = append(b, '}')
	if e := f.Extra; e != nil {
		b = append(b, `,"extra":{"n":`...)
		b = strconv.AppendInt(b, e.n, 10)
		b = appendJSONFloat(append(b, `,"mean":`...), e.mean)
		b = appendJSONFloat(append(b, `,"m2":`...), e.m2)
		b = appendJSONFloat(append(b, `,"area":`...), e.area)
		if e.sketch != nil {
			b = e.sketch.appendJSON(b)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSON appends `,"sketch":` and the base64 (standard, padded) of
// s's encoding, as encoding/json writes extraJSON's Sketch: nothing when
// the encoding is empty.
func (s *sketch) appendJSON(b []byte) []byte {
	const name = `,"sketch":"`
	n := len(b)
	s.encode(&b)
	raw := len(b) - n
	if raw == 0 {
		return b
	}
	m := len(name) + base64.StdEncoding.EncodedLen(raw) + 1
	// Move the encoding after the room its JSON needs and write the JSON
	// into that room: the two do not overlap.
	b = slices.Grow(b, m)[:n+m+raw]
	copy(b[n+m:], b[n:n+raw])
	copy(b[n:], name)
	base64.StdEncoding.Encode(b[n+len(name):n+m-1], b[n+m:])
	b[n+m-1] = '"'
	return b[:n+m]
}

// appendJSONFloat appends v as jfloat's MarshalJSON writes it.
func appendJSONFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s quoted as encoding/json quotes a string: HTML
// characters, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
