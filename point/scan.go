package point

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// RawTag is one tag of a RawLine as written. The Scanner accepts no
// escapes, so these bytes are also the key and value the full parser gives.
type RawTag struct {
	Key, Value []byte
}

// RawField is one field of a RawLine. Value is the text of the value
// without the quotes of a string or the i and u suffixes of integers.
type RawField struct {
	Key   []byte
	Kind  lineprotocol.ValueKind
	Value []byte
	num   uint64 // the parsed value of a number or boolean
}

// RawLine is one point of line protocol cut into tokens that share memory
// with the scanned data. Every token is valid UTF-8 and free of
// backslashes, and every field value parses (see RawField.Parse).
type RawLine struct {
	Measurement []byte
	// Tags are in the order written, possibly unsorted or repeated.
	Tags   []RawTag
	Fields []RawField
	// FieldSection is the fields as written: key=value,key=value.
	FieldSection []byte
	// Time is the timestamp as written, nil when the line has none;
	// TimeValue is its value, in the payload's precision.
	Time      []byte
	TimeValue int64
}

// ScanResult says what Scanner.Next found.
type ScanResult int

const (
	// ScanEnd means the data holds no further point.
	ScanEnd ScanResult = iota
	// ScanLine means the RawLine holds the next point.
	ScanLine
	// ScanHard means the next entry, which starts at Offset, is outside
	// the subset the Scanner handles (escapes, comments with carriage
	// returns, syntax errors, values out of range, ...): the caller must
	// parse data[Offset():] with the full parser.
	ScanHard
)

// Scanner cuts the common subset of line protocol into RawLines without
// copying or allocating: lines without backslash escapes, string fields
// without newlines, numbers in plain decimal notation. For every line it
// accepts, the full parser (lineprotocol.Decoder with ParsePrecision's
// rules) gives the same tokens; it hands everything else back with
// ScanHard, so callers stay exact by falling back. The zero value is
// ready after Reset; a Scanner is not safe for concurrent use.
type Scanner struct {
	data []byte
	off  int
}

// Reset makes s scan data from the start.
func (s *Scanner) Reset(data []byte) {
	s.data, s.off = data, 0
}

// Offset returns the offset in data of the next entry to scan, which is at
// the start of a line or of blank space or a comment before one.
func (s *Scanner) Offset() int { return s.off }

// byte classes of the line-protocol grammar, as the full parser defines
// them, minus the backslash: a token with one is left to the full parser.
const (
	cMeas    = 1 << iota // may appear in a measurement
	cKey                 // may appear in a tag key, tag value or field key
	cComment             // may appear in a comment
)

// classes holds the classes of every byte.
var classes = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		nonPrint := c < 32 || c == 0x7f
		if !nonPrint && c != ',' && c != ' ' && c != '\\' {
			t[i] |= cMeas
		}
		if !nonPrint && c != ',' && c != ' ' && c != '=' && c != '\\' {
			t[i] |= cKey
		}
		if !nonPrint {
			t[i] |= cComment
		}
	}
	return t
}()

// Next scans the next point into l; see ScanResult. After ScanHard or
// ScanEnd, Next keeps returning the same.
func (s *Scanner) Next(l *RawLine) ScanResult {
	data := s.data
	i, ok := skipBlank(data, s.off)
	if !ok {
		return ScanHard
	}
	s.off = i
	if i == len(data) {
		return ScanEnd
	}
	j, ok := s.scan(data, i, l)
	if !ok {
		return ScanHard
	}
	s.off = j
	return ScanLine
}

// skipBlank skips spaces, empty lines and comments from i; ok is false when
// a carriage return or a bad comment needs the full parser.
func skipBlank(data []byte, i int) (int, bool) {
	for {
		for i < len(data) && data[i] == ' ' {
			i++
		}
		if i == len(data) {
			return i, true
		}
		switch data[i] {
		case '\n':
			i++
		case '#':
			j := i + 1
			for j < len(data) && classes[data[j]]&cComment != 0 {
				j++
			}
			if j < len(data) && data[j] != '\n' {
				return i, false
			}
			i = j
		case '\r':
			return i, false
		default:
			return i, true
		}
	}
}

// scan scans the entry starting at data[i] (not blank) and returns the
// offset after its newline.
func (s *Scanner) scan(data []byte, i int, l *RawLine) (int, bool) {
	j := i
	for j < len(data) && classes[data[j]]&cMeas != 0 {
		j++
	}
	if j == i || j == len(data) {
		return 0, false
	}
	l.Measurement = data[i:j]
	l.Tags, l.Fields = l.Tags[:0], l.Fields[:0]
	for data[j] == ',' {
		var key, val []byte
		if key, j = token(data, j+1); len(key) == 0 || j == len(data) || data[j] != '=' {
			return 0, false
		}
		if val, j = token(data, j+1); len(val) == 0 || j == len(data) {
			return 0, false
		}
		l.Tags = append(l.Tags, RawTag{Key: key, Value: val})
	}
	if data[j] != ' ' {
		return 0, false
	}
	for j < len(data) && data[j] == ' ' {
		j++
	}
	j, ok := s.fields(data, j, l)
	if !ok || !ascii(data[i:j]) && !l.validUTF8() {
		return 0, false
	}
	return s.time(data, j, l)
}

// ascii reports whether b holds only 7-bit bytes, eight at a time.
func ascii(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// token returns the run of key characters at data[i:] and the offset after it.
func token(data []byte, i int) ([]byte, int) {
	j := i
	for j < len(data) && classes[data[j]]&cKey != 0 {
		j++
	}
	return data[i:j], j
}

// fields scans the field section at data[i:] up to the space or newline
// after it; it returns the offset of that separator (or len(data)).
func (s *Scanner) fields(data []byte, i int, l *RawLine) (int, bool) {
	start := i
	j := i
	for {
		var key []byte
		if key, j = token(data, j); len(key) == 0 || j == len(data) || data[j] != '=' {
			return 0, false
		}
		f := RawField{Key: key}
		var ok bool
		if j, ok = fieldValue(data, j+1, &f); !ok {
			return 0, false
		}
		l.Fields = append(l.Fields, f)
		if j == len(data) || data[j] != ',' {
			break
		}
		j++
	}
	l.FieldSection = data[start:j]
	return j, true
}

// fieldValue scans the value at data[i:] into f and returns the offset
// after it, which is the end of data or a comma, space or newline.
func fieldValue(data []byte, i int, f *RawField) (int, bool) {
	if i == len(data) {
		return 0, false
	}
	j := i
	switch c := data[i]; {
	case c == '"':
		j++
		for j < len(data) && data[j] != '"' {
			if c := data[j]; c == '\\' || c == '\n' {
				return 0, false
			}
			j++
		}
		if j == len(data) {
			return 0, false
		}
		f.Kind, f.Value = lineprotocol.String, data[i+1:j]
		j++
	case c == 't' || c == 'T' || c == 'f' || c == 'F':
		for j < len(data) && !endOfValue(data[j]) {
			j++
		}
		if !boolWord(data[i:j], f) {
			return 0, false
		}
	case c == '-' || c == '.' || c >= '0' && c <= '9':
		for j < len(data) && !endOfValue(data[j]) {
			j++
		}
		if !numberValue(data[i:j], f) {
			return 0, false
		}
	default:
		return 0, false
	}
	if j < len(data) && data[j] != ',' && data[j] != ' ' && data[j] != '\n' {
		return 0, false // a carriage return, or junk after a string
	}
	return j, true
}

// endOfValue reports whether c ends an unquoted field value. The full
// parser also stops at a carriage return, which the Scanner refuses.
func endOfValue(c byte) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' }

// boolWord sets f from b if b is one of the spellings of a boolean.
func boolWord(b []byte, f *RawField) bool {
	f.Kind, f.Value = lineprotocol.Bool, b
	switch string(b) {
	case "t", "T", "true", "True", "TRUE":
		f.num = 1
		return true
	case "f", "F", "false", "False", "FALSE":
		f.num = 0
		return true
	}
	return false
}

// numberValue sets f from the unquoted number v if v is one the Scanner
// accepts: integers of at most 18 digits, unsigned integers of at most 19
// and the decimal floats scanFloat accepts.
func numberValue(v []byte, f *RawField) bool {
	var ok bool
	switch v[len(v)-1] {
	case 'i':
		f.Kind, f.Value = lineprotocol.Int, v[:len(v)-1]
		d, neg := f.Value, false
		if len(d) > 0 && d[0] == '-' {
			d, neg = d[1:], true
		}
		if len(d) > 18 {
			return false
		}
		f.num, ok = digits(d)
		if neg {
			f.num = -f.num
		}
	case 'u':
		f.Kind, f.Value = lineprotocol.Uint, v[:len(v)-1]
		if len(f.Value) > 19 {
			return false
		}
		f.num, ok = digits(f.Value)
	default:
		var x float64
		f.Kind, f.Value = lineprotocol.Float, v
		x, ok = scanFloat(v)
		f.num = math.Float64bits(x)
	}
	return ok
}

// time scans the optional timestamp and the end of the line at data[j:],
// which is the end of data or the space or newline after the fields.
func (s *Scanner) time(data []byte, j int, l *RawLine) (int, bool) {
	l.Time, l.TimeValue = nil, 0
	if j == len(data) {
		return j, true
	}
	if data[j] == ' ' {
		for j < len(data) && data[j] == ' ' {
			j++
		}
		if j < len(data) && data[j] != '\n' {
			var ok bool
			t := j
			if j, ok = parseTime(data, j, l); !ok {
				return 0, false
			}
			l.Time = data[t:j]
			for j < len(data) && data[j] == ' ' {
				j++
			}
		}
	}
	if j == len(data) {
		return j, true
	}
	if data[j] != '\n' {
		return 0, false
	}
	return j + 1, true
}

// parseTime parses the timestamp at data[j:] into l.TimeValue as
// strconv.ParseInt would, refusing what it refuses, and returns the
// offset after it.
func parseTime(data []byte, j int, l *RawLine) (int, bool) {
	neg := data[j] == '-'
	if neg {
		j++
	}
	d := j
	for j+8 <= len(data) && digits8(binary.LittleEndian.Uint64(data[j:])) {
		j += 8
	}
	for j < len(data) && data[j]-'0' < 10 {
		j++
	}
	if j == d || j-d > 19 || j < len(data) && data[j] == '-' {
		return 0, false
	}
	u := decimal(data[d:j])
	switch {
	case !neg && u <= math.MaxInt64:
		l.TimeValue = int64(u)
	case neg && u <= 1<<63:
		l.TimeValue = -int64(u-1) - 1
	default:
		return 0, false
	}
	return j, true
}

// digits8 reports whether the eight bytes of x are all decimal digits:
// each has the high nibble 3, and adding 6 keeps it (0x39+6 = 0x3f, while
// 0x3a+6 = 0x40). No byte carries into the next.
func digits8(x uint64) bool {
	const hi, three, six = 0xf0f0f0f0f0f0f0f0, 0x3030303030303030, 0x0606060606060606
	return x&hi == three && (x+six)&hi == three
}

// validUTF8 checks every token of l, as the full parser does.
func (l *RawLine) validUTF8() bool {
	if !utf8.Valid(l.Measurement) {
		return false
	}
	for _, t := range l.Tags {
		if !utf8.Valid(t.Key) || !utf8.Valid(t.Value) {
			return false
		}
	}
	for _, f := range l.Fields {
		if !utf8.Valid(f.Key) || f.Kind == lineprotocol.String && !utf8.Valid(f.Value) {
			return false
		}
	}
	return true
}
