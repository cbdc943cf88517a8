package transform

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/expr-lang/expr/vm"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// Program is a compiled Config. It is not safe for concurrent use.
type Program struct {
	where      *expression
	mapFields  []*expression // sorted by key; the key is keyOf[path]
	fieldKeys  []string
	mapTags    []*expression
	tagKeys    []string
	mapMeas    *expression
	uses       uses
	rename     renamer
	keep, drop keySets
	enrich     []enricher
	split      splitter

	// Scratch state reused between calls to Apply.
	st   evalState
	env  env
	vm   vm.VM
	out  point.Point
	part point.Point
}

// Compile checks c and compiles it. Its errors are those of Validate.
func Compile(c Config) (*Program, error) {
	pr := &Program{}
	var ps problems
	pr.compileExprs(c, &ps)
	pr.rename = newRenamer(c.Rename, &ps)
	ps.list("keep.fields", c.Keep.Fields)
	ps.list("keep.tags", c.Keep.Tags)
	ps.list("drop.fields", c.Drop.Fields)
	ps.list("drop.tags", c.Drop.Tags)
	pr.keep, pr.drop = newKeySets(c.Keep), newKeySets(c.Drop)
	for i, e := range c.Enrich {
		ps.enrich(i, e)
		pr.enrich = append(pr.enrich, newEnricher(e))
	}
	ps.split(c.Split)
	pr.split = newSplitter(c.Split)
	if err := errors.Join(ps...); err != nil {
		return nil, err
	}
	pr.env.Tags = map[string]string{}
	pr.env.Fields = map[string]float64{}
	pr.env.SFields = map[string]string{}
	return pr, nil
}

func (pr *Program) compileExprs(c Config, ps *problems) {
	add := func(path, src string, want reflect.Kind) *expression {
		if src == "" {
			ps.add(path, "expression must not be empty")
			return nil
		}
		e, err := pr.st.compileExpr(path, src, want)
		if err != nil {
			*ps = append(*ps, err)
			return nil
		}
		pr.uses |= e.uses
		return e
	}
	if c.Where != "" {
		pr.where = add("where", c.Where, reflect.Bool)
	}
	for _, k := range sortedKeys(c.Map.Fields) {
		ps.name("map.fields."+k, k)
		if e := add("map.fields."+k, c.Map.Fields[k], reflect.Float64); e != nil {
			pr.mapFields, pr.fieldKeys = append(pr.mapFields, e), append(pr.fieldKeys, k)
		}
	}
	for _, k := range sortedKeys(c.Map.Tags) {
		ps.name("map.tags."+k, k)
		if e := add("map.tags."+k, c.Map.Tags[k], reflect.String); e != nil {
			pr.mapTags, pr.tagKeys = append(pr.mapTags, e), append(pr.tagKeys, k)
		}
	}
	if c.Map.Measurement != "" {
		pr.mapMeas = add("map.measurement", c.Map.Measurement, reflect.String)
	}
}

// Apply runs the operators on p, in the order where, map, rename, keep,
// drop, enrich, split, and calls emit for each resulting point: none, one,
// or one per split field. Apply does not modify p and keeps no reference to
// it; the point passed to emit is reused and is valid only during the call,
// and its strings may share memory with p's. The error, if not nil, holds
// one *EvalError per expression that failed; the points are emitted all the
// same.
func (pr *Program) Apply(p *point.Point, emit func(*point.Point)) error {
	pr.begin(p)
	defer func() { pr.st.p = nil }()
	var errs []error
	if pr.where != nil {
		ok, err := pr.pass()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
	out := &pr.out
	out.Measurement, out.Time = p.Measurement, p.Time
	out.Tags = append(out.Tags[:0], p.Tags...)
	out.Fields = append(out.Fields[:0], p.Fields...)
	errs = pr.mapFieldsTo(out, errs)
	errs = pr.mapTagsTo(out, errs)
	errs = pr.mapMeasurementTo(out, errs)
	pr.rename.apply(out)
	pr.keep.keep(out)
	pr.drop.drop(out)
	for i := range pr.enrich {
		pr.enrich[i].apply(out)
	}
	if len(out.Fields) > 0 {
		if pr.split.on {
			pr.split.apply(out, &pr.part, emit)
		} else {
			emit(out)
		}
	}
	return errors.Join(errs...)
}

// begin points the expressions at p and fills the env maps the compiled
// expressions use whole. A key repeated in p reads as its first value, as
// the lookup functions see it.
func (pr *Program) begin(p *point.Point) {
	pr.st.p = p
	pr.env.Measurement, pr.env.Time = p.Measurement, p.Time
	if pr.uses&useTags != 0 {
		clear(pr.env.Tags)
		for i := len(p.Tags) - 1; i >= 0; i-- {
			pr.env.Tags[p.Tags[i].Key] = p.Tags[i].Value
		}
	}
	if pr.uses&(useFields|useSFields) != 0 {
		clear(pr.env.Fields)
		clear(pr.env.SFields)
		for i := len(p.Fields) - 1; i >= 0; i-- {
			f := p.Fields[i]
			if v, ok := number(f.Value); ok {
				pr.env.Fields[f.Key] = v
			} else if f.Value.Kind() == lineprotocol.String {
				pr.env.SFields[f.Key] = f.Value.StringV()
			}
		}
	}
}

// run evaluates e on the current point. ok is false when the expression
// read a missing key, in which case its result and any error are ignored.
func (pr *Program) run(e *expression) (v any, ok bool, err error) {
	pr.st.missing = false
	v, err = pr.vm.Run(e.prog, &pr.env)
	if pr.st.missing {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, &EvalError{Path: e.path, Err: err}
	}
	return v, true, nil
}

func (pr *Program) pass() (bool, error) {
	v, ok, err := pr.run(pr.where)
	if !ok {
		return false, err
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, &EvalError{Path: pr.where.path, Err: fmt.Errorf("result is %T, not bool", v)}
	}
	return b, nil
}

func (pr *Program) mapFieldsTo(out *point.Point, errs []error) []error {
	for i, e := range pr.mapFields {
		v, ok, err := pr.run(e)
		if !ok {
			errs = appendErr(errs, err)
			continue
		}
		f, isNum := toFloat(v)
		fv, finite := lineprotocol.FloatValue(f)
		if !isNum || !finite {
			errs = append(errs, &EvalError{Path: e.path, Err: fmt.Errorf("%w: %v", ErrNotFinite, v)})
			continue
		}
		setField(out, pr.fieldKeys[i], fv)
	}
	return errs
}

func (pr *Program) mapTagsTo(out *point.Point, errs []error) []error {
	for i, e := range pr.mapTags {
		v, ok, err := pr.run(e)
		if !ok {
			errs = appendErr(errs, err)
			continue
		}
		s, isString := v.(string)
		switch {
		case !isString:
			errs = append(errs, &EvalError{Path: e.path, Err: fmt.Errorf("result is %T, not string", v)})
		case s == "":
			deleteTag(out, pr.tagKeys[i])
		case checkName(s) != nil:
			errs = append(errs, &EvalError{Path: e.path, Err: fmt.Errorf("%w: %q", ErrBadName, s)})
		default:
			out.SetTag(pr.tagKeys[i], s)
		}
	}
	return errs
}

func (pr *Program) mapMeasurementTo(out *point.Point, errs []error) []error {
	if pr.mapMeas == nil {
		return errs
	}
	v, ok, err := pr.run(pr.mapMeas)
	if !ok {
		return appendErr(errs, err)
	}
	s, isString := v.(string)
	if !isString {
		return append(errs, &EvalError{Path: pr.mapMeas.path, Err: fmt.Errorf("result is %T, not string", v)})
	}
	if checkName(s) != nil {
		return append(errs, &EvalError{Path: pr.mapMeas.path, Err: fmt.Errorf("%w: %q", ErrBadName, s)})
	}
	out.Measurement = s
	return errs
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}

// toFloat converts a map field result. The checker has let through only
// numbers and values of unknown type.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	switch rv := reflect.ValueOf(v); {
	case rv.CanFloat():
		return rv.Float(), true
	case rv.CanInt():
		return float64(rv.Int()), true
	case rv.CanUint():
		return float64(rv.Uint()), true
	}
	return 0, false
}

func setField(p *point.Point, key string, v lineprotocol.Value) {
	for i := range p.Fields {
		if p.Fields[i].Key == key {
			p.Fields[i].Value = v
			return
		}
	}
	p.AddField(key, v)
}

func deleteTag(p *point.Point, key string) {
	p.Tags = slices.DeleteFunc(p.Tags, func(t point.Tag) bool { return t.Key == key })
}
