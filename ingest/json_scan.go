package ingest

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonKind is the kind of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "bool", "number", "string", "array", "object"}[k]
}

// jsonMaxDepth is the deepest nesting of objects and arrays encoding/json
// accepts.
const jsonMaxDepth = 10000

// jsonMaxNames bounds the flattened member names of one payload. Each
// element of an array under a long name repeats that name, so a small
// payload can ask for gigabytes of names.
const jsonMaxNames = 32 << 20

// jsonSpan is a run of bytes in one of jsonScan's buffers.
type jsonSpan struct{ off, n int32 }

// jsonMember is one flattened member of an object: its name in keys, and
// its value's text (a number's literal, a string's value) in the payload
// or, for a string that had to be unescaped, in strs.
type jsonMember struct {
	key, val jsonSpan
	kind     jsonKind // jsonBool, jsonNumber or jsonString
	own      bool     // val is in strs
	dead     bool     // a later member of the same name replaced it
}

// jsonElem is one element of a top-level array: its kind and, for an
// object, its members ms[from:to].
type jsonElem struct {
	kind     jsonKind
	from, to int
}

// jsonKeyRef is a member name as written in an object being read, and the
// flattened members its value gave, ms[from:to].
type jsonKeyRef struct {
	name     jsonSpan
	own      bool // name is in strs
	from, to int
}

// jsonScan reads a JSON payload into flattened members, as
// encoding/json's map[string]any and the flattening before it did: nested
// members are named parent_child, array elements parent_index, nulls are
// left out, and a name given twice in one object keeps its last value.
// Its buffers are kept from one payload to the next.
type jsonScan struct {
	src   []byte
	pos   int
	depth int
	top   jsonKind
	path  []byte // the flattened name of the value being read
	keys  []byte // member names, back to back
	strs  []byte // strings that had escapes or invalid UTF-8, unescaped
	ms    []jsonMember
	elems []jsonElem   // of a top-level array
	names []jsonKeyRef // of the objects being read, innermost last
	// tooLong is set when parse stopped at jsonMaxNames.
	tooLong bool
}

// parse reads src. It reports false if src is not one JSON value between
// optional white space, or nests deeper than encoding/json allows.
func (js *jsonScan) parse(src []byte) bool {
	js.src, js.pos, js.depth, js.tooLong = src, 0, 0, false
	js.path, js.keys, js.strs = js.path[:0], js.keys[:0], js.strs[:0]
	js.ms, js.elems, js.names = js.ms[:0], js.elems[:0], js.names[:0]
	if len(src) > 1<<31-1 {
		return false // beyond jsonSpan; encoding/json gives the error
	}
	js.ws()
	js.top = js.peekKind()
	ok := false
	if js.top == jsonArray {
		ok = js.array(true)
	} else {
		ok = js.value()
	}
	js.ws()
	return ok && js.pos == len(src)
}

// release drops the payload and buffers grown large by one payload.
func (js *jsonScan) release() {
	js.src = nil
	const keep = 64 << 10
	if cap(js.keys) > keep || cap(js.strs) > keep || cap(js.path) > keep {
		js.path, js.keys, js.strs = nil, nil, nil
	}
	if cap(js.ms) > keep/16 || cap(js.elems) > keep/16 || cap(js.names) > keep/16 {
		js.ms, js.elems, js.names = nil, nil, nil
	}
}

// key returns m's flattened name.
func (js *jsonScan) key(m jsonMember) []byte { return js.keys[m.key.off : m.key.off+m.key.n] }

// val returns m's value as text: a number's literal, a string's value,
// "true" or "false". It shares the memory of the payload or of js.
func (js *jsonScan) val(m jsonMember) []byte {
	b := js.src
	if m.own {
		b = js.strs
	}
	return b[m.val.off : m.val.off+m.val.n]
}

// sortMembers sorts ms by name: by insertion, as an object has a few
// members, and with slices.SortFunc past a dozen.
func (js *jsonScan) sortMembers(ms []jsonMember) {
	if len(ms) > 12 {
		slices.SortFunc(ms, func(a, b jsonMember) int { return bytes.Compare(js.key(a), js.key(b)) })
		return
	}
	for i := 1; i < len(ms); i++ {
		m := ms[i]
		k := js.key(m)
		j := i
		for ; j > 0 && bytes.Compare(js.key(ms[j-1]), k) > 0; j-- {
			ms[j] = ms[j-1]
		}
		ms[j] = m
	}
}

// text is val as a string sharing its memory.
func (js *jsonScan) text(m jsonMember) string { return unsafeString(js.val(m)) }

func (js *jsonScan) name(r jsonKeyRef) []byte {
	b := js.src
	if r.own {
		b = js.strs
	}
	return b[r.name.off : r.name.off+r.name.n]
}

func (js *jsonScan) ws() {
	for js.pos < len(js.src) {
		switch js.src[js.pos] {
		case ' ', '\t', '\n', '\r':
			js.pos++
		default:
			return
		}
	}
}

// peekKind returns the kind of the value starting at pos, going by its
// first byte.
func (js *jsonScan) peekKind() jsonKind {
	if js.pos >= len(js.src) {
		return jsonNull
	}
	switch js.src[js.pos] {
	case '{':
		return jsonObject
	case '[':
		return jsonArray
	case '"':
		return jsonString
	case 't', 'f':
		return jsonBool
	case 'n':
		return jsonNull
	}
	return jsonNumber
}

func (js *jsonScan) value() bool {
	if js.pos >= len(js.src) {
		return false
	}
	switch c := js.src[js.pos]; c {
	case '{':
		return js.object()
	case '[':
		return js.array(false)
	case '"':
		v, own, ok := js.str()
		return ok && js.leaf(jsonString, v, own)
	case 't':
		return js.literal("true", jsonBool)
	case 'f':
		return js.literal("false", jsonBool)
	case 'n':
		return js.literal("null", jsonNull)
	default:
		start := js.pos
		if !js.number() {
			return false
		}
		return js.leaf(jsonNumber, jsonSpan{int32(start), int32(js.pos - start)}, false)
	}
}

// leaf adds a member named by the current path.
// It reports false, setting tooLong, once the names would pass
// jsonMaxNames.
func (js *jsonScan) leaf(kind jsonKind, val jsonSpan, own bool) bool {
	off := len(js.keys)
	if off+len(js.path) > jsonMaxNames {
		js.tooLong = true
		return false
	}
	js.keys = append(js.keys, js.path...)
	js.ms = append(js.ms, jsonMember{key: jsonSpan{int32(off), int32(len(js.path))}, val: val, kind: kind, own: own})
	return true
}

func (js *jsonScan) literal(word string, kind jsonKind) bool {
	if !bytes.HasPrefix(js.src[js.pos:], []byte(word)) {
		return false
	}
	start := js.pos
	js.pos += len(word)
	return kind != jsonBool || js.leaf(jsonBool, jsonSpan{int32(start), int32(len(word))}, false)
}

// enter counts one more level of nesting; false past jsonMaxDepth.
func (js *jsonScan) enter() bool {
	js.depth++
	js.pos++ // the opening bracket
	return js.depth <= jsonMaxDepth
}

// join sets the path to the child name of the path cut to plen: prefix
// "_" name, or name alone under an empty prefix.
func (js *jsonScan) join(plen int, name []byte) {
	js.path = js.path[:plen]
	if plen > 0 {
		js.path = append(js.path, '_')
	}
	js.path = append(js.path, name...)
}

func (js *jsonScan) object() bool {
	if !js.enter() {
		return false
	}
	base, plen := len(js.names), len(js.path)
	js.ws()
	if js.pos < len(js.src) && js.src[js.pos] == '}' {
		js.pos++
		js.depth--
		return true
	}
	for {
		js.ws()
		if js.pos >= len(js.src) || js.src[js.pos] != '"' {
			return false
		}
		name, own, ok := js.str()
		if !ok {
			return false
		}
		js.ws()
		if js.pos >= len(js.src) || js.src[js.pos] != ':' {
			return false
		}
		js.pos++
		js.ws()
		ref := jsonKeyRef{name: name, own: own, from: len(js.ms)}
		js.join(plen, js.name(ref))
		if !js.value() {
			return false
		}
		ref.to = len(js.ms)
		js.names = append(js.names, ref)
		js.path = js.path[:plen]
		more, ok := js.after('}')
		if !ok {
			return false
		}
		if !more {
			js.replaced(base)
			js.names = js.names[:base]
			return true
		}
	}
}

// after reads what follows a member or an element: a comma, when more
// follow, or the closing bracket, which ends the object or array. ok is
// false for anything else.
func (js *jsonScan) after(closing byte) (more, ok bool) {
	js.ws()
	if js.pos >= len(js.src) {
		return false, false
	}
	switch js.src[js.pos] {
	case ',':
		js.pos++
		return true, true
	case closing:
		js.pos++
		js.depth--
		return false, true
	}
	return false, false
}

// replaced marks dead the members of every name of the object whose names
// start at names[base] that the object gives again later: a map keeps the
// last value of a name.
func (js *jsonScan) replaced(base int) {
	names := js.names[base:]
	if len(names) <= 16 {
		for i := range names {
			for _, later := range names[i+1:] {
				if bytes.Equal(js.name(names[i]), js.name(later)) {
					js.kill(names[i])
					break
				}
			}
		}
		return
	}
	slices.SortFunc(names, func(a, b jsonKeyRef) int {
		if c := bytes.Compare(js.name(a), js.name(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.from, b.from)
	})
	for i := 1; i < len(names); i++ {
		if bytes.Equal(js.name(names[i-1]), js.name(names[i])) {
			js.kill(names[i-1])
		}
	}
}

// kill marks the members of r's value dead.
func (js *jsonScan) kill(r jsonKeyRef) {
	for j := r.from; j < r.to; j++ {
		js.ms[j].dead = true
	}
}

// array reads an array; the elements of a top-level array are objects of
// their own (js.elems), those of a nested one members named by index.
func (js *jsonScan) array(top bool) bool {
	if !js.enter() {
		return false
	}
	plen := len(js.path)
	js.ws()
	if js.pos < len(js.src) && js.src[js.pos] == ']' {
		js.pos++
		js.depth--
		return true
	}
	var num [20]byte
	for i := 0; ; i++ {
		js.ws()
		if top {
			e := jsonElem{kind: js.peekKind(), from: len(js.ms)}
			if !js.value() {
				return false
			}
			e.to = len(js.ms)
			js.elems = append(js.elems, e)
		} else {
			js.join(plen, strconv.AppendInt(num[:0], int64(i), 10))
			if !js.value() {
				return false
			}
			js.path = js.path[:plen]
		}
		if more, ok := js.after(']'); !more {
			return ok
		}
	}
}

// number reads a number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (js *jsonScan) number() bool {
	s, i := js.src, js.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(s, i+1); j > i+1 {
			i = j
		} else {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	js.pos = i
	return true
}

func digits(s []byte, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// str reads the string at pos. Its value is the payload's bytes between
// the quotes if they hold no escape and are valid UTF-8; otherwise it is
// unescaped into strs (own) as encoding/json unescapes: invalid UTF-8 and
// unpaired surrogates become U+FFFD.
func (js *jsonScan) str() (v jsonSpan, own, ok bool) {
	s := js.src
	start := js.pos + 1
	i := start
	for i < len(s) {
		c := s[i]
		if c == '"' {
			js.pos = i + 1
			return jsonSpan{int32(start), int32(i - start)}, false, true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	off := len(js.strs)
	b := append(js.strs, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			js.strs, js.pos = b, i+1
			return jsonSpan{int32(off), int32(len(b) - off)}, true, true
		case c < 0x20:
			return v, false, false
		case c == '\\':
			if i+1 >= len(s) {
				return v, false, false
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(s[i+2:])
				if r < 0 {
					return v, false, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if len(s) > i+1 && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						i += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return v, false, false
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
	return v, false, false
}

// hex4 returns the value of the 4 hex digits s starts with, or -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
