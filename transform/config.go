package transform

import (
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Config is the stateless part of a pipeline step. Its fields are keys of
// the step itself in the site config; all are optional.
type Config struct {
	// Where is a boolean expression; points for which it is false are dropped.
	Where string `mapstructure:"where"`
	// Map sets fields, tags or the measurement from expressions.
	Map MapConfig `mapstructure:"map"`
	// Rename changes keys and the measurement.
	Rename RenameConfig `mapstructure:"rename"`
	// Keep leaves only the listed fields and tags.
	Keep KeepConfig `mapstructure:"keep"`
	// Drop removes the listed fields and tags.
	Drop KeepConfig `mapstructure:"drop"`
	// Enrich adds tags from lookup tables.
	Enrich []EnrichConfig `mapstructure:"enrich"`
	// Split turns one point into one point per field.
	Split SplitConfig `mapstructure:"split"`
}

// MapConfig holds expressions keyed by the field or tag they write.
type MapConfig struct {
	// Fields maps a field key to a numeric expression; the result is a float field.
	Fields map[string]string `mapstructure:"fields"`
	// Tags maps a tag key to a string expression; an empty result removes the tag.
	Tags map[string]string `mapstructure:"tags"`
	// Measurement is a string expression that gives the new measurement.
	Measurement string `mapstructure:"measurement"`
}

// RenameConfig maps old keys to new keys.
type RenameConfig struct {
	Fields map[string]string `mapstructure:"fields"`
	Tags   map[string]string `mapstructure:"tags"`
	// Measurement is the new measurement, a plain name.
	Measurement string `mapstructure:"measurement"`
}

// KeepConfig lists field and tag keys, for keep and for drop.
type KeepConfig struct {
	Fields []string `mapstructure:"fields"`
	Tags   []string `mapstructure:"tags"`
}

// EnrichConfig adds the tags of Table[value of tag Tag], or Default when the
// point lacks the tag or the table lacks the value. Existing tags are never
// overwritten.
type EnrichConfig struct {
	Tag     string                       `mapstructure:"tag"`
	Table   map[string]map[string]string `mapstructure:"table"`
	Default map[string]string            `mapstructure:"default"`
}

// SplitConfig turns each selected field into a point of its own. Split is
// off when both Fields and Field are empty; Fields empty with Field set
// selects every field.
type SplitConfig struct {
	// Fields selects the fields to split out.
	Fields []string `mapstructure:"fields"`
	// Field is the key of the single field of each new point; "value" if empty.
	Field string `mapstructure:"field"`
	// Tag, when set, keeps the measurement and records the original field
	// key in this tag; otherwise the field key becomes the measurement.
	Tag string `mapstructure:"tag"`
}

// DefaultSplitField is the field key of split points when split.field is empty.
const DefaultSplitField = "value"

// Empty reports whether c configures no operator at all.
func (c Config) Empty() bool {
	return c.Where == "" && c.Map.empty() && c.Rename.empty() && c.Keep.empty() &&
		c.Drop.empty() && len(c.Enrich) == 0 && c.Split.off()
}

func (m MapConfig) empty() bool {
	return len(m.Fields) == 0 && len(m.Tags) == 0 && m.Measurement == ""
}

func (r RenameConfig) empty() bool {
	return len(r.Fields) == 0 && len(r.Tags) == 0 && r.Measurement == ""
}

func (k KeepConfig) empty() bool { return len(k.Fields) == 0 && len(k.Tags) == 0 }

func (s SplitConfig) off() bool { return len(s.Fields) == 0 && s.Field == "" }

// Validate compiles every expression and checks every key. Each problem
// starts with its key path relative to the step, such as
// `map.fields.temp_f: ...`; all problems are joined.
func (c Config) Validate() error {
	_, err := Compile(c)
	return err
}

// problems collects validation errors, each prefixed with its key path.
type problems []error

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, errors.New(path+": "+fmt.Sprintf(format, args...)))
}

// name checks a measurement, key or tag value: line protocol needs it
// non-empty, valid UTF-8, without control characters and without a
// trailing backslash.
func (ps *problems) name(path, s string) {
	if err := checkName(s); err != nil {
		ps.add(path, "%v", err)
	}
}

var (
	errEmptyName = errors.New("must not be empty")
	errBadName   = errors.New("must be valid UTF-8 without control characters or a trailing backslash")
)

func checkName(s string) error {
	if s == "" {
		return errEmptyName
	}
	if !utf8.ValidString(s) || s[len(s)-1] == '\\' {
		return errBadName
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return errBadName
		}
	}
	return nil
}

// list checks a key list: valid, distinct names.
func (ps *problems) list(path string, keys []string) {
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		p := fmt.Sprintf("%s[%d]", path, i)
		ps.name(p, k)
		if seen[k] {
			ps.add(p, "%q is listed twice", k)
		}
		seen[k] = true
	}
}

// renames checks old -> new pairs: valid names, distinct targets.
func (ps *problems) renames(path string, m map[string]string) {
	targets := make(map[string]string, len(m))
	for _, old := range sortedKeys(m) {
		p := path + "." + old
		ps.name(p, old)
		nw := m[old]
		ps.name(p, nw)
		if prev, ok := targets[nw]; ok && nw != "" {
			ps.add(p, "%q is also the new name of %q", nw, prev)
		}
		targets[nw] = old
	}
}

func (ps *problems) enrich(i int, e EnrichConfig) {
	path := fmt.Sprintf("enrich[%d]", i)
	if e.Tag == "" {
		ps.add(path+".tag", "must be set")
	} else {
		ps.name(path+".tag", e.Tag)
	}
	if len(e.Table) == 0 && len(e.Default) == 0 {
		ps.add(path+".table", "table or default must be set")
	}
	for _, v := range sortedKeys(e.Table) {
		ps.tagSet(path+".table."+v, e.Table[v])
	}
	ps.tagSet(path+".default", e.Default)
}

func (ps *problems) tagSet(path string, tags map[string]string) {
	for _, k := range sortedKeys(tags) {
		ps.name(path+"."+k, k)
		ps.name(path+"."+k, tags[k])
	}
}

func (ps *problems) split(s SplitConfig) {
	if s.off() {
		return
	}
	ps.list("split.fields", s.Fields)
	if s.Field != "" {
		ps.name("split.field", s.Field)
	}
	if s.Tag != "" {
		ps.name("split.tag", s.Tag)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
