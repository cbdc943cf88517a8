package transform

import (
	"slices"

	"github.com/rivulet-edge/rivulet/point"
)

// renamer renames all keys at once: each key is looked up once among the
// old names, so a swap works, and a renamed key replaces one that already
// had its new name.
type renamer struct {
	fields, tags     map[string]string
	fieldDst, tagDst map[string]bool
	measurement      string
}

func newRenamer(c RenameConfig, ps *problems) renamer {
	ps.renames("rename.fields", c.Fields)
	ps.renames("rename.tags", c.Tags)
	if c.Measurement != "" {
		ps.name("rename.measurement", c.Measurement)
	}
	return renamer{
		fields: c.Fields, tags: c.Tags,
		fieldDst: targets(c.Fields), tagDst: targets(c.Tags),
		measurement: c.Measurement,
	}
}

func targets(m map[string]string) map[string]bool {
	t := make(map[string]bool, len(m))
	for _, v := range m {
		t[v] = true
	}
	return t
}

func (r *renamer) apply(p *point.Point) {
	if r.measurement != "" {
		p.Measurement = r.measurement
	}
	if len(r.fields) > 0 {
		p.Fields = slices.DeleteFunc(p.Fields, func(f point.Field) bool { return r.shadowed(f.Key, r.fields, r.fieldDst) })
		for i, f := range p.Fields {
			if n, ok := r.fields[f.Key]; ok {
				p.Fields[i].Key = n
			}
		}
	}
	if len(r.tags) > 0 {
		p.Tags = slices.DeleteFunc(p.Tags, func(t point.Tag) bool { return r.shadowed(t.Key, r.tags, r.tagDst) })
		for i, t := range p.Tags {
			if n, ok := r.tags[t.Key]; ok {
				p.Tags[i].Key = n
			}
		}
		p.SortTags()
	}
}

// shadowed reports whether key is about to be replaced by a renamed key:
// it is a new name and is not itself renamed away.
func (r *renamer) shadowed(key string, names map[string]string, dst map[string]bool) bool {
	if !dst[key] {
		return false
	}
	_, moves := names[key]
	return !moves
}

// keySets is a compiled KeepConfig.
type keySets struct {
	fields, tags map[string]bool
}

func newKeySets(c KeepConfig) keySets {
	return keySets{fields: set(c.Fields), tags: set(c.Tags)}
}

func set(keys []string) map[string]bool {
	if len(keys) == 0 {
		return nil
	}
	s := make(map[string]bool, len(keys))
	for _, k := range keys {
		s[k] = true
	}
	return s
}

func (k *keySets) keep(p *point.Point) {
	if k.fields != nil {
		p.Fields = slices.DeleteFunc(p.Fields, func(f point.Field) bool { return !k.fields[f.Key] })
	}
	if k.tags != nil {
		p.Tags = slices.DeleteFunc(p.Tags, func(t point.Tag) bool { return !k.tags[t.Key] })
	}
}

func (k *keySets) drop(p *point.Point) {
	if k.fields != nil {
		p.Fields = slices.DeleteFunc(p.Fields, func(f point.Field) bool { return k.fields[f.Key] })
	}
	if k.tags != nil {
		p.Tags = slices.DeleteFunc(p.Tags, func(t point.Tag) bool { return k.tags[t.Key] })
	}
}

// enricher is a compiled EnrichConfig; rows hold their tags sorted.
type enricher struct {
	tag  string
	rows map[string][]point.Tag
	def  []point.Tag
}

func newEnricher(c EnrichConfig) enricher {
	e := enricher{tag: c.Tag, rows: make(map[string][]point.Tag, len(c.Table)), def: tagList(c.Default)}
	for v, row := range c.Table {
		e.rows[v] = tagList(row)
	}
	return e
}

func tagList(m map[string]string) []point.Tag {
	var tags []point.Tag
	for _, k := range sortedKeys(m) {
		tags = append(tags, point.Tag{Key: k, Value: m[k]})
	}
	return tags
}

func (e *enricher) apply(p *point.Point) {
	row := e.def
	if v, ok := p.Tag(e.tag); ok {
		if r, found := e.rows[v]; found {
			row = r
		}
	}
	for _, t := range row {
		if _, exists := p.Tag(t.Key); !exists {
			p.SetTag(t.Key, t.Value)
		}
	}
}

// splitter is a compiled SplitConfig.
type splitter struct {
	on     bool
	fields map[string]bool // nil selects every field
	field  string
	tag    string
}

func newSplitter(c SplitConfig) splitter {
	s := splitter{on: !c.off(), fields: set(c.Fields), field: c.Field, tag: c.Tag}
	if s.field == "" {
		s.field = DefaultSplitField
	}
	return s
}

// apply emits one point per selected field of p, in p's field order,
// building each in part.
func (s *splitter) apply(p, part *point.Point, emit func(*point.Point)) {
	for _, f := range p.Fields {
		if s.fields != nil && !s.fields[f.Key] {
			continue
		}
		part.Measurement, part.Time = f.Key, p.Time
		part.Tags = append(part.Tags[:0], p.Tags...)
		if s.tag != "" {
			part.Measurement = p.Measurement
			part.SetTag(s.tag, f.Key)
		}
		part.Fields = append(part.Fields[:0], point.Field{Key: s.field, Value: f.Value})
		emit(part)
	}
}
