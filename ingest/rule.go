package ingest

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// ErrNoRule is the reason given for a message whose topic matches no rule.
// With a persistent session this happens when a filter was removed from the
// config but the broker still holds the old subscription.
var ErrNoRule = errors.New("no topic rule matches")

// format is a payload format.
type format int

const (
	formatValue format = iota
	formatInflux
	formatJSON
)

// Rule maps the topics matching one filter to points. It is compiled from a
// TopicConfig once at start and is safe for concurrent use.
type Rule struct {
	filter      string
	levels      []string // filter levels, without a $share/<group>/ prefix
	format      format
	qos         int // -1: the source's default
	measurement template
	field       string
	tags        []tagRule // sorted by key
	precision   lineprotocol.Precision
	json        jsonRule
	needSegs    bool // some template uses topic segments
}

// tagRule is one configured tag.
type tagRule struct {
	key string
	val template
}

// NewRule validates tc and compiles it.
func NewRule(tc TopicConfig) (*Rule, error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	r := &Rule{filter: tc.Filter, levels: filterLevels(tc.Filter), qos: tc.QoS, field: tc.Field}
	if r.field == "" {
		r.field = "value"
	}
	r.format = map[string]format{"value": formatValue, "influx": formatInflux, "json": formatJSON}[tc.Format]
	r.precision = map[string]lineprotocol.Precision{"": lineprotocol.Nanosecond, "ns": lineprotocol.Nanosecond,
		"us": lineprotocol.Microsecond, "ms": lineprotocol.Millisecond, "s": lineprotocol.Second}[tc.Precision]
	var err error
	if r.measurement, err = parseTemplate(tc.Measurement); err != nil {
		return nil, fmt.Errorf("measurement: %w", err)
	}
	r.needSegs = !r.measurement.literal()
	for k, v := range tc.Tags {
		tm, err := parseTemplate(v)
		if err != nil {
			return nil, fmt.Errorf("tags.%s: %w", k, err)
		}
		r.tags = append(r.tags, tagRule{key: k, val: tm})
		r.needSegs = r.needSegs || !tm.literal()
	}
	sort.Slice(r.tags, func(i, j int) bool { return r.tags[i].key < r.tags[j].key })
	r.json = newJSONRule(tc.JSON)
	return r, nil
}

// Filter returns the topic filter the rule was compiled from.
func (r *Rule) Filter() string { return r.filter }

// QoS returns the QoS to subscribe with: the rule's own, or def when the
// rule keeps the source's default.
func (r *Rule) QoS(def int) byte {
	return byte(effectiveQoS(r.qos, def))
}

func effectiveQoS(topic, def int) int {
	if topic >= 0 {
		return topic
	}
	return def
}

// Match reports whether topic matches the rule's filter with MQTT semantics:
// '+' matches exactly one level, a trailing '#' matches any number of levels
// including none (so "a/#" matches "a"), and a filter starting with a
// wildcard does not match topics starting with '$'.
func (r *Rule) Match(topic string) bool {
	if topic == "" {
		return false
	}
	if topic[0] == '$' && (r.levels[0] == "+" || r.levels[0] == "#") {
		return false
	}
	rest, more := topic, true
	for _, l := range r.levels {
		if l == "#" {
			return true
		}
		if !more {
			return false
		}
		var level string
		level, rest, more = strings.Cut(rest, "/")
		if l != "+" && l != level {
			return false
		}
	}
	return !more
}

// filterLevels splits a filter into levels, dropping the "$share/<group>/"
// prefix of a shared subscription: the broker delivers those messages on the
// plain topic.
func filterLevels(f string) []string {
	levels := strings.Split(f, "/")
	if len(levels) > 2 && levels[0] == "$share" {
		levels = levels[2:]
	}
	return levels
}

// Router picks the rule for a topic: the first matching rule in config
// order. It is safe for concurrent use.
type Router struct {
	rules []*Rule
}

// NewRouter compiles the topic entries of one source in order.
func NewRouter(topics []TopicConfig) (*Router, error) {
	rt := &Router{}
	var errs []error
	for i, tc := range topics {
		r, err := NewRule(tc)
		if err != nil {
			errs = append(errs, prefix(fmt.Sprintf("topics[%d].", i), err))
			continue
		}
		rt.rules = append(rt.rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// Route returns the first rule matching topic, or nil if none does.
func (rt *Router) Route(topic string) *Rule {
	for _, r := range rt.rules {
		if r.Match(topic) {
			return r
		}
	}
	return nil
}

// Rules returns the compiled rules in config order.
func (rt *Router) Rules() []*Rule { return rt.rules }
