package forward

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// This file turns outbox line protocol into what the mqtt, http and kafka
// sinks send: topics rendered from templates, JSON objects, series keys.

// A topic template is literal text with placeholders in braces:
//
//   - {measurement}: the point's measurement;
//   - {tag:NAME}: the value of tag NAME;
//   - {NAME}: short for {tag:NAME}, so {site} is the site tag every result
//     carries and {rule} the rule tag of alert points.
//
// A tag the point does not have renders as the sink's missing_tag. Rendered
// values are made safe for the upstream: in an MQTT topic '/', '+', '#' and
// NUL become '_' (a value is always one topic level); in a Kafka topic
// every character but [A-Za-z0-9._-] becomes '_'. There is no escape for a
// literal brace: neither upstream allows one in a topic worth having.
type topicTemplate struct {
	src     string
	parts   []topicPart
	missing string
	rules   topicRules
}

// topicPart is a literal, the measurement or a tag.
type topicPart struct {
	kind partKind
	text string // the literal, or the tag key
}

type partKind uint8

const (
	partLiteral partKind = iota
	partMeasurement
	partTag
)

// topicRules are what one upstream allows in a topic name.
type topicRules struct {
	upstream string
	// literal checks the template's literal text.
	literal func(s string) error
	// clean appends a rendered value with forbidden characters replaced.
	clean func(dst []byte, v string) []byte
	// final checks a whole rendered topic.
	final func(topic string) error
}

// compileTopic parses src and checks it, and missing, against rules. Errors
// do not name the key; the caller prefixes it.
func compileTopic(src, missing string, rules topicRules) (*topicTemplate, error) {
	if src == "" {
		return nil, errors.New("must be set")
	}
	parts, err := parseTopic(src)
	if err != nil {
		return nil, err
	}
	var lits strings.Builder
	for _, p := range parts {
		if p.kind == partLiteral {
			lits.WriteString(p.text)
		}
	}
	if err := rules.literal(lits.String()); err != nil {
		return nil, fmt.Errorf("%q: %w", src, err)
	}
	if missing == "" || string(rules.clean(nil, missing)) != missing {
		return nil, fmt.Errorf("missing_tag %q cannot be part of a %s topic", missing, rules.upstream)
	}
	return &topicTemplate{src: src, parts: parts, missing: missing, rules: rules}, nil
}

// parseTopic splits a template into parts.
func parseTopic(src string) ([]topicPart, error) {
	var parts []topicPart
	rest := src
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			parts = append(parts, topicPart{kind: partLiteral, text: rest})
			break
		}
		if rest[i] == '}' {
			return nil, fmt.Errorf("%q: '}' without '{'", src)
		}
		if i > 0 {
			parts = append(parts, topicPart{kind: partLiteral, text: rest[:i]})
		}
		j := strings.IndexAny(rest[i+1:], "{}")
		if j < 0 || rest[i+1+j] == '{' {
			return nil, fmt.Errorf("%q: unclosed '{'", src)
		}
		p, err := placeholder(rest[i+1 : i+1+j])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", src, err)
		}
		parts = append(parts, p)
		rest = rest[i+j+2:]
	}
	return parts, nil
}

// placeholder interprets the text between braces.
func placeholder(s string) (topicPart, error) {
	switch kind, name, ok := strings.Cut(s, ":"); {
	case s == "":
		return topicPart{}, errors.New("empty placeholder {}")
	case s == "measurement":
		return topicPart{kind: partMeasurement}, nil
	case !ok:
		return topicPart{kind: partTag, text: s}, nil
	case kind != "tag":
		return topicPart{}, fmt.Errorf("unknown placeholder {%s} (use {measurement}, {tag:NAME} or {NAME})", s)
	case name == "":
		return topicPart{}, fmt.Errorf("placeholder {%s} names no tag", s)
	default:
		return topicPart{kind: partTag, text: name}, nil
	}
}

// render appends the topic of p to dst. An error means the rendered topic
// is not one the upstream accepts (too long, say).
func (t *topicTemplate) render(dst []byte, p *point.Point) ([]byte, error) {
	start := len(dst)
	for _, part := range t.parts {
		switch part.kind {
		case partLiteral:
			dst = append(dst, part.text...)
		case partMeasurement:
			dst = t.rules.clean(dst, p.Measurement)
		case partTag:
			v, ok := p.Tag(part.text)
			if !ok {
				v = t.missing
			}
			dst = t.rules.clean(dst, v)
		}
	}
	if err := t.rules.final(string(dst[start:])); err != nil {
		return dst[:start], fmt.Errorf("topic %q from template %q: %w", dst[start:], t.src, err)
	}
	return dst, nil
}

// mqttTopicRules: a topic name is UTF-8, at most 65535 bytes, without
// wildcards or NUL; a leading '$' is reserved for the broker.
var mqttTopicRules = topicRules{
	upstream: "mqtt",
	literal: func(s string) error {
		if i := strings.IndexAny(s, "+#\x00"); i >= 0 {
			return fmt.Errorf("%q is not allowed in an MQTT topic name", s[i])
		}
		if strings.HasPrefix(s, "$") {
			return errors.New("topics starting with '$' are reserved for the broker")
		}
		return nil
	},
	clean: func(dst []byte, v string) []byte {
		for _, r := range strings.ToValidUTF8(v, "_") {
			switch r {
			case '/', '+', '#', 0:
				r = '_'
			}
			dst = utf8.AppendRune(dst, r)
		}
		return dst
	},
	final: func(topic string) error {
		if len(topic) > 65535 {
			return fmt.Errorf("%d bytes, MQTT allows 65535", len(topic))
		}
		if strings.HasPrefix(topic, "$") {
			return errors.New("topics starting with '$' are reserved for the broker")
		}
		return nil
	},
}

// kafkaTopicRules: [A-Za-z0-9._-], 1 to 249 characters, not "." or "..".
var kafkaTopicRules = topicRules{
	upstream: "kafka",
	literal: func(s string) error {
		for _, r := range s {
			if !kafkaTopicChar(r) {
				return fmt.Errorf("%q is not allowed in a Kafka topic (only A-Z a-z 0-9 . _ -)", r)
			}
		}
		return nil
	},
	clean: func(dst []byte, v string) []byte {
		for _, r := range v {
			if !kafkaTopicChar(r) {
				r = '_'
			}
			dst = append(dst, byte(r))
		}
		return dst
	},
	final: func(topic string) error {
		switch {
		case len(topic) > 249:
			return fmt.Errorf("%d characters, Kafka allows 249", len(topic))
		case topic == "." || topic == "..":
			return errors.New("not a valid Kafka topic")
		}
		return nil
	},
}

func kafkaTopicChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// appendJSON appends p as one JSON object, the payload shape of the mqtt,
// http and kafka sinks with format json:
//
//	{"measurement":"temp_1m","tags":{"sensor":"t1","site":"north"},
//	 "fields":{"count":12,"mean":21.5,"ok":true,"state":"warm"},
//	 "time":"2023-11-14T22:13:20.123456789Z","ts":1700000000123456789}
//
// Tags and fields are in key order; a repeated field key keeps its last
// value, as InfluxDB does. Integers and unsigned integers are JSON
// integers; a float always has a fraction or an exponent (21.0, not 21), so
// that a consumer can tell the types apart. "time" is RFC 3339 in UTC with
// nanoseconds, "ts" the same instant in Unix nanoseconds; a point without a
// timestamp has ts 0. (measurement, tags, ts) is the point's identity: a
// repeated delivery carries the same one.
func appendJSON(dst []byte, p *point.Point) []byte {
	dst = append(dst, `{"measurement":`...)
	dst = appendJSONString(dst, p.Measurement)
	dst = append(dst, `,"tags":{`...)
	for i, t := range p.Tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, t.Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, t.Value)
	}
	dst = append(dst, `},"fields":{`...)
	for i, f := range sortedFields(p.Fields) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Key)
		dst = append(dst, ':')
		dst = appendJSONValue(dst, f.Value)
	}
	dst = append(dst, `},"time":"`...)
	dst = time.Unix(0, p.Time).UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, p.Time, 10)
	return append(dst, '}')
}

// sortedFields returns the fields in key order, the last of equal keys
// kept. It sorts a copy: fields belongs to the caller.
func sortedFields(fields []point.Field) []point.Field {
	if slices.IsSortedFunc(fields, func(a, b point.Field) int {
		if a.Key == b.Key {
			return -1 // a duplicate: not strictly sorted
		}
		return strings.Compare(a.Key, b.Key)
	}) {
		return fields
	}
	out := slices.Clone(fields)
	slices.SortStableFunc(out, func(a, b point.Field) int { return strings.Compare(a.Key, b.Key) })
	kept := out[:0]
	for i, f := range out {
		if i+1 < len(out) && out[i+1].Key == f.Key {
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

func appendJSONValue(dst []byte, v lineprotocol.Value) []byte {
	switch v.Kind() {
	case lineprotocol.Int:
		return strconv.AppendInt(dst, v.IntV(), 10)
	case lineprotocol.Uint:
		return strconv.AppendUint(dst, v.UintV(), 10)
	case lineprotocol.Float:
		return appendJSONFloat(dst, v.FloatV())
	case lineprotocol.Bool:
		return strconv.AppendBool(dst, v.BoolV())
	default:
		return appendJSONString(dst, v.StringV())
	}
}

// appendJSONFloat writes f as encoding/json does (plain notation between
// 1e-6 and 1e21), with ".0" added to an integral value. The line protocol
// carries no NaN or infinity.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	start := len(dst)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
		// 1e-07 → 1e-7, as encoding/json writes it.
		if n := len(dst); n-start >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if !strings.ContainsRune(string(dst[start:]), '.') {
		dst = append(dst, ".0"...)
	}
	return dst
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, r := range s { // a bad byte ranges as U+FFFD
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// appendSeriesKey appends the series identity of p: its measurement and
// sorted tags as in line protocol, "temp,sensor=t1,site=north". enc is
// scratch state.
func appendSeriesKey(dst []byte, enc *lineprotocol.Encoder, p *point.Point) ([]byte, error) {
	enc.SetBuffer(dst)
	enc.StartLine(p.Measurement)
	for _, t := range p.Tags {
		enc.AddTag(t.Key, t.Value)
	}
	if err := enc.Err(); err != nil {
		return dst, fmt.Errorf("series key of %q: %w", p.Measurement, err)
	}
	return enc.Bytes(), nil
}

// eachPoint parses a batch of line protocol and calls fn for each point,
// whose strings are valid only during the call. A batch that does not parse
// cannot be fixed by sending it again: that is a *PermanentError.
func eachPoint(dec *point.Decoder, lines []byte, fn func(p *point.Point) error) error {
	var fnErr error
	err := dec.Parse(lines, func(p *point.Point) error {
		fnErr = fn(p)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return &PermanentError{Err: fmt.Errorf("parse batch: %w", err)}
	}
	return err
}
