package point

import (
	"strconv"
	"unicode/utf8"
)

// Plain reports whether the line-protocol encoder accepts s as a
// measurement, key or tag value and writes it unchanged: not empty, no
// control character, comma, space or '=', valid UTF-8, and no trailing
// backslash.
func Plain(s string) bool {
	if s == "" || s[len(s)-1] == '\\' {
		return false
	}
	var hi byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == 0x7f || c == ',' || c == ' ' || c == '=' {
			return false
		}
		hi |= c
	}
	return hi < utf8.RuneSelf || utf8.ValidString(s)
}

// appendPlain appends p as the line-protocol encoder would, if that is
// easy to prove: a measurement, tag keys and values and field keys that
// need no escaping (Plain), and tags in strictly increasing order. Field
// values are written by Value.AppendBytes, as the encoder writes them.
// Otherwise it reports false and appends nothing.
func appendPlain(dst []byte, p *Point) ([]byte, bool) {
	if len(p.Fields) == 0 || !Plain(p.Measurement) {
		return dst, false
	}
	for i := range p.Tags {
		t := &p.Tags[i]
		if !Plain(t.Key) || !Plain(t.Value) || i > 0 && t.Key <= p.Tags[i-1].Key {
			return dst, false
		}
	}
	for i := range p.Fields {
		if !Plain(p.Fields[i].Key) {
			return dst, false
		}
	}
	dst = append(dst, p.Measurement...)
	for _, t := range p.Tags {
		dst = append(dst, ',')
		dst = append(dst, t.Key...)
		dst = append(dst, '=')
		dst = append(dst, t.Value...)
	}
	for i := range p.Fields {
		sep := byte(',')
		if i == 0 {
			sep = ' '
		}
		dst = append(dst, sep)
		dst = append(dst, p.Fields[i].Key...)
		dst = append(dst, '=')
		dst = p.Fields[i].Value.AppendBytes(dst)
	}
	if p.Time != 0 {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Time, 10)
	}
	return append(dst, '\n'), true
}
