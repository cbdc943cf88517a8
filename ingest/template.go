package ingest

import (
	"fmt"
	"strings"
)

// template is a string with {N} placeholders, each replaced by segment N
// (0-based) of the topic a message arrived on.
type template struct {
	src    string
	parts  []tmplPart
	maxSeg int // highest segment used; -1 when the template is a literal
}

// tmplPart is a literal (seg < 0) or a reference to topic segment seg.
type tmplPart struct {
	lit string
	seg int
}

// parseTemplate compiles s. A '{' must open a placeholder of decimal digits
// closed by '}'; a '}' on its own is literal.
func parseTemplate(s string) (template, error) {
	t := template{src: s, maxSeg: -1}
	rest := s
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return template{}, fmt.Errorf("%q: unclosed '{'", s)
		}
		n, ok := segIndex(rest[i+1 : i+j])
		if !ok {
			return template{}, fmt.Errorf("%q: %q is not a topic segment number", s, rest[i:i+j+1])
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i], seg: -1})
		}
		t.parts = append(t.parts, tmplPart{seg: n})
		t.maxSeg = max(t.maxSeg, n)
		rest = rest[i+j+1:]
	}
	if rest != "" {
		t.parts = append(t.parts, tmplPart{lit: rest, seg: -1})
	}
	return t, nil
}

// segIndex parses a segment number: 1 to 4 decimal digits, no sign.
func segIndex(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// literal reports whether the template has no placeholder.
func (t *template) literal() bool { return t.maxSeg < 0 }

// render fills in the placeholders from the topic's segments. A value
// joined from several parts is appended to *buf and shares its memory: it
// stays valid, but changes once *buf is reused from the start.
func (t *template) render(topic string, segs []string, buf *[]byte) (string, error) {
	if t.literal() {
		return t.src, nil
	}
	if t.maxSeg >= len(segs) {
		return "", fmt.Errorf("template %q wants segment {%d}, topic %q has %d segments (counting from 0)",
			t.src, t.maxSeg, topic, len(segs))
	}
	if len(t.parts) == 1 {
		return segs[t.parts[0].seg], nil
	}
	b := *buf
	start := len(b)
	for _, p := range t.parts {
		if p.seg < 0 {
			b = append(b, p.lit...)
		} else {
			b = append(b, segs[p.seg]...)
		}
	}
	*buf = b
	return unsafeString(b[start:]), nil
}
