package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-viper/mapstructure/v2"

	"github.com/rivulet-edge/rivulet/detect"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/forward"
	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/series"
	"github.com/rivulet-edge/rivulet/transform"
	"github.com/rivulet-edge/rivulet/wal"
)

// itemDefaults gives the starting value of a list item by type. viper and
// mapstructure start list items from zero, which would lose every default
// of a source, topic, step or sink.
var itemDefaults = map[reflect.Type]func() any{
	reflect.TypeFor[ingest.MQTTConfig]():  func() any { return ingest.DefaultMQTT() },
	reflect.TypeFor[ingest.TopicConfig](): func() any { return ingest.DefaultTopic() },
	reflect.TypeFor[engine.StepConfig]():  func() any { return engine.DefaultStep() },
	reflect.TypeFor[forward.Config]():     func() any { return forward.DefaultConfig() },
	// Optional blocks of a step start from their package's defaults.
	reflect.TypeFor[series.Config]():          func() any { return series.DefaultConfig() },
	reflect.TypeFor[detect.Config]():          func() any { return detect.DefaultConfig() },
	reflect.TypeFor[transform.EnrichConfig](): func() any { return transform.EnrichConfig{} },
}

func init() {
	// A detect block and its detector blocks start from their defaults (a
	// threshold without warn has no warn level, not warn 0).
	for _, d := range detect.Defaults() {
		itemDefaults[reflect.TypeOf(d)] = func() any { return d }
	}
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	sizeType      = reflect.TypeFor[wal.Size]()
	unmarshalText = reflect.TypeFor[encoding.TextUnmarshaler]()

	// leafHook turns strings into durations and wal.Sizes.
	leafHook = mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.TextUnmarshallerHookFunc(),
	)
)

// decoder lays a parsed tree onto a Config, walking structs, lists and maps
// itself so that every problem gets its full key path, and handing each
// scalar to mapstructure with the duration and text hooks.
type decoder struct {
	problems
	fromEnv map[string]string // key path → variable that set it
}

// value decodes raw onto dst, which holds the default. Null keeps it.
func (d *decoder) value(path string, raw any, dst reflect.Value) {
	if raw == nil {
		return
	}
	t := dst.Type()
	switch {
	case isScalar(t):
		d.scalar(path, raw, dst)
	case t.Kind() == reflect.Struct:
		d.structure(path, raw, dst)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		// An optional block: present in the file means non-nil, starting
		// from its type's defaults.
		if dst.IsNil() {
			v := reflect.New(t.Elem())
			if def, ok := itemDefaults[t.Elem()]; ok {
				v.Elem().Set(reflect.ValueOf(def()))
			}
			dst.Set(v)
		}
		d.structure(path, raw, dst.Elem())
	case t.Kind() == reflect.Slice:
		d.list(path, raw, dst)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		d.mapping(path, raw, dst)
	default:
		d.add(path, fmt.Sprintf("cannot decode into %s", t)) // TestConfigTypes keeps this unreachable
	}
}

func (d *decoder) structure(path string, raw any, dst reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.add(path, mismatch(dst.Type(), raw))
		return
	}
	fields := fieldIndex(dst.Type())
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := joinPath(path, k)
		if i, ok := fields[k]; ok {
			d.value(p, m[k], dst.Field(i))
		} else {
			d.add(p, "unknown key")
		}
	}
}

// list replaces dst with the items of raw, each starting from its type's
// default. Replacing, not merging, matters: mapstructure would keep the tail
// of a longer default list such as a step's aggregates.
func (d *decoder) list(path string, raw any, dst reflect.Value) {
	items, ok := raw.([]any)
	if !ok {
		d.add(path, mismatch(dst.Type(), raw))
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(items), len(items))
	for i, item := range items {
		el := out.Index(i)
		if def, ok := itemDefaults[el.Type()]; ok {
			el.Set(reflect.ValueOf(def()))
		}
		d.value(fmt.Sprintf("%s[%d]", path, i), item, el)
	}
	dst.Set(out)
}

func (d *decoder) mapping(path string, raw any, dst reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.add(path, mismatch(dst.Type(), raw))
		return
	}
	t := dst.Type()
	out := reflect.MakeMapWithSize(t, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p, v := joinPath(path, k), reflect.New(t.Elem()).Elem()
		if m[k] == nil {
			d.add(p, mismatch(t.Elem(), nil)) // a map entry has no default to keep
			continue
		}
		d.value(p, m[k], v)
		out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), v)
	}
	dst.Set(out)
}

// scalar decodes one leaf value. Values from the environment are parsed for
// the key's type first; numbers are checked for fractions and range, which
// mapstructure would truncate or wrap silently.
func (d *decoder) scalar(path string, raw any, dst reflect.Value) {
	t := dst.Type()
	if e, ok := raw.(envValue); ok {
		v, ok := parseEnv(e.value, t)
		if !ok {
			d.add(path, mismatch(t, e.value))
			return
		}
		raw = v
	}
	raw, msg := checkNumber(raw, t)
	if msg != "" {
		d.add(path, msg)
		return
	}
	out := reflect.New(t)
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{DecodeHook: leafHook, Result: out.Interface()})
	if err == nil {
		err = dec.Decode(raw)
	}
	if err != nil {
		d.add(path, leafMessage(t, raw, err))
		return
	}
	dst.Set(out.Elem())
}

// parseEnv converts an environment string to what a file would hold for a
// key of type t: durations and sizes stay strings for the hooks.
func parseEnv(s string, t reflect.Type) (any, bool) {
	if t == durationType || isText(t) {
		return s, true
	}
	var v any
	var err error
	switch k := t.Kind(); {
	case k == reflect.Bool:
		v, err = strconv.ParseBool(s)
	case isInt(k):
		v, err = strconv.ParseInt(s, 10, 64)
	case k >= reflect.Uint && k <= reflect.Uint64:
		v, err = strconv.ParseUint(s, 10, 64)
	case k == reflect.Float32 || k == reflect.Float64:
		v, err = strconv.ParseFloat(s, 64)
	default:
		v = s
	}
	return v, err == nil
}

// checkNumber vets a number bound for an integer key: no fraction, in range,
// and for a duration only 0, since a bare 10 would mean 10ns. It returns the
// number as an int64, or a message.
func checkNumber(raw any, t reflect.Type) (any, string) {
	rv := reflect.ValueOf(raw)
	if !isInt(t.Kind()) || !isNumber(rv.Kind()) {
		return raw, ""
	}
	var n int64
	switch k := rv.Kind(); {
	case isInt(k):
		n = rv.Int()
	case k == reflect.Float32 || k == reflect.Float64:
		f := rv.Float()
		if f != math.Trunc(f) {
			return nil, fmt.Sprintf("expected a whole number, got %s", describe(raw))
		}
		if f < -(1<<63) || f >= 1<<63 {
			return nil, fmt.Sprintf("number out of range, got %s", describe(raw))
		}
		n = int64(f)
	default: // unsigned
		if rv.Uint() > math.MaxInt64 {
			return nil, fmt.Sprintf("number out of range, got %s", describe(raw))
		}
		n = int64(rv.Uint())
	}
	if t == durationType && n != 0 {
		return nil, mismatch(t, raw)
	}
	if reflect.New(t).Elem().OverflowInt(n) {
		return nil, fmt.Sprintf("number out of range, got %s", describe(raw))
	}
	return n, ""
}

// leafMessage words a failed scalar decode. A TextUnmarshaler's own error
// says best what is wrong ("invalid size …"); otherwise it is a type mismatch.
func leafMessage(t reflect.Type, raw any, err error) string {
	var de *mapstructure.DecodeError
	var me mapstructure.Error
	if isText(t) && errors.As(err, &de) && !errors.As(de.Unwrap(), &me) {
		return de.Unwrap().Error()
	}
	return mismatch(t, raw)
}

func mismatch(t reflect.Type, raw any) string {
	return fmt.Sprintf("expected %s, got %s", expected(t), describe(raw))
}

// expected names what a key of type t takes, in config terms.
func expected(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration like "20ms"`
	case t == sizeType:
		return `a size like "4MiB"`
	case isText(t):
		return "a string"
	}
	switch k := t.Kind(); {
	case k == reflect.Bool:
		return "true or false"
	case k == reflect.String:
		return "a string"
	case isNumber(k):
		return "a number"
	case k == reflect.Slice:
		return "a list"
	}
	return "a mapping"
}

// describe renders a parsed value for a message, shortening long strings.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "null"
	case string:
		if utf8.RuneCountInString(v) > 60 {
			v = string([]rune(v)[:60]) + "…"
		}
		return strconv.Quote(v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprint(raw)
}

// fieldIndex maps the mapstructure key of each field of struct type t to its
// index.
func fieldIndex(t reflect.Type) map[string]int {
	idx := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := keyName(t.Field(i)); name != "" {
			idx[name] = i
		}
	}
	return idx
}

// keyName returns the config key of a field: its mapstructure tag up to any
// comma, or "" for unexported and "-" fields.
func keyName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if !f.IsExported() || name == "-" {
		return ""
	}
	return name
}

// isScalar reports whether t is decoded as one value: a basic kind, a
// duration or a TextUnmarshaler.
func isScalar(t reflect.Type) bool {
	k := t.Kind()
	return isText(t) || k == reflect.Bool || k == reflect.String || isNumber(k)
}

func isText(t reflect.Type) bool { return reflect.PointerTo(t).Implements(unmarshalText) }

func isInt(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Int64 }

func isNumber(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Float64 }
