package transform

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/point"
)

// env is the environment expressions are checked against and run in. The
// maps are filled only for programs that use them whole (`"x" in fields`,
// `keys(tags)`): member reads such as fields.x are rewritten into calls of
// the lookup functions below, which read the point directly and notice
// missing keys.
type env struct {
	Measurement string             `expr:"measurement"`
	Time        int64              `expr:"time"`
	Tags        map[string]string  `expr:"tags"`
	Fields      map[string]float64 `expr:"fields"`
	SFields     map[string]string  `expr:"sfields"`
}

// Names of the lookup functions that member reads are rewritten into. The
// leading '$' keeps them apart from names a user would choose.
const (
	fnField       = "$field"
	fnSField      = "$sfield"
	fnTag         = "$tag"
	fnMeasurement = "$measurement"
)

// uses records which parts of env a compiled expression needs.
type uses uint8

const (
	useTags uses = 1 << iota
	useFields
	useSFields
)

// mapOf names the env maps and the lookup function a member read of each
// becomes.
var mapOf = [...]struct {
	name, fn string
	use      uses
}{
	{"tags", fnTag, useTags},
	{"fields", fnField, useFields},
	{"sfields", fnSField, useSFields},
}

// rewriter turns tags.x, fields["x"] and the like into calls of lookup
// functions, and measurement into $measurement(), counting what stays a
// whole-map use. It goes by name, so a variable the expression itself
// calls tags, fields, sfields or measurement (with let) is rewritten too. A read with a constant key becomes a call without
// arguments of a function made for that key (named like "$field.x"), which
// the VM calls without building an argument slice; other reads become
// $field(key). ast.Walk visits children first, so the identifier under a
// member read is counted before the read itself is rewritten.
type rewriter struct {
	idents, reads [len(mapOf)]int
	env           bool        // $env is used: its maps may be read directly
	consts        []constRead // constant-key reads, in the order met
}

// constRead is a read of a constant key from map mapOf[m].
type constRead struct {
	m   int
	key string
}

func (c constRead) fn() string { return mapOf[c.m].fn + "." + c.key }

func (r *rewriter) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		for i, m := range mapOf {
			if n.Value == m.name {
				r.idents[i]++
			}
		}
		if n.Value == "$env" {
			r.env = true
		}
		if n.Value == "measurement" {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fnMeasurement}})
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || n.Method || !maybeString(n.Property) {
			// A key that cannot be a string is left for the checker
			// to report in its own words.
			return
		}
		for i, m := range mapOf {
			if id.Value != m.name {
				continue
			}
			r.reads[i]++
			call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: m.fn}, Arguments: []ast.Node{n.Property}}
			if key, ok := n.Property.(*ast.StringNode); ok {
				c := constRead{m: i, key: key.Value}
				r.consts = append(r.consts, c)
				call = &ast.CallNode{Callee: &ast.IdentifierNode{Value: c.fn()}}
			}
			ast.Patch(node, call)
		}
	}
}

// maybeString reports whether n may be a string: the checker, which runs
// before each patch pass, typed it as a string or could not tell.
func maybeString(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

func (r *rewriter) uses() uses {
	var u uses
	for i, m := range mapOf {
		if r.env || r.idents[i] > r.reads[i] {
			u |= m.use
		}
	}
	return u
}

// evalState is what the lookup functions read: the point being
// transformed, and whether an expression read a key the point lacks.
type evalState struct {
	p       *point.Point
	missing bool
	// meas and measBox cache the boxed measurement, so that a stream of
	// one measurement does not allocate on every read. meas is a copy:
	// the point's strings are only borrowed.
	meas    string
	measBox any
	boxes   map[string]*floatBox // by field key
}

var zeroFloat, zeroString any = float64(0), ""

func keyArg(args []any) (string, error) {
	key, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("key must be a string, got %T", args[0])
	}
	return key, nil
}

func (st *evalState) field(args ...any) (any, error) {
	key, err := keyArg(args)
	if err != nil {
		return nil, err
	}
	if v, ok := st.number(key); ok {
		return v, nil
	}
	return zeroFloat, nil
}

func (st *evalState) sfield(args ...any) (any, error) {
	key, err := keyArg(args)
	if err != nil {
		return nil, err
	}
	return st.str(key), nil
}

func (st *evalState) tag(args ...any) (any, error) {
	key, err := keyArg(args)
	if err != nil {
		return nil, err
	}
	return st.tagValue(key), nil
}

// number returns numeric field key of the current point, or notes that it
// is missing. A string field counts as missing from fields.
func (st *evalState) number(key string) (float64, bool) {
	for _, f := range st.p.Fields {
		if f.Key == key {
			if v, ok := number(f.Value); ok {
				return v, true
			}
			break
		}
	}
	st.missing = true
	return 0, false
}

func (st *evalState) str(key string) any {
	for _, f := range st.p.Fields {
		if f.Key == key {
			if f.Value.Kind() == lineprotocol.String {
				return f.Value.StringV()
			}
			break
		}
	}
	st.missing = true
	return zeroString
}

func (st *evalState) tagValue(key string) any {
	if v, ok := st.p.Tag(key); ok {
		return v
	}
	st.missing = true
	return zeroString
}

// floatBox keeps the last boxed value of one numeric field, shared by all
// expressions of a Program, so that a value read by several expressions,
// or repeated from one point to the next, is boxed once.
type floatBox struct {
	bits uint64
	box  any
}

func (b *floatBox) get(v float64) any {
	if bits := math.Float64bits(v); b.box == nil || bits != b.bits {
		b.bits, b.box = bits, v
	}
	return b.box
}

// constFunc makes the lookup function of a constant-key read.
func (st *evalState) constFunc(c constRead) (func(...any) (any, error), any) {
	key := c.key
	switch mapOf[c.m].fn {
	case fnField:
		if st.boxes == nil {
			st.boxes = map[string]*floatBox{}
		}
		b := st.boxes[key]
		if b == nil {
			b = &floatBox{}
			st.boxes[key] = b
		}
		return func(...any) (any, error) {
			v, ok := st.number(key)
			if !ok {
				return zeroFloat, nil
			}
			return b.get(v), nil
		}, new(func() float64)
	case fnSField:
		return func(...any) (any, error) { return st.str(key), nil }, new(func() string)
	default:
		return func(...any) (any, error) { return st.tagValue(key), nil }, new(func() string)
	}
}

func (st *evalState) measurement(...any) (any, error) {
	if st.measBox == nil || st.meas != st.p.Measurement {
		st.meas = strings.Clone(st.p.Measurement)
		st.measBox = st.meas
	}
	return st.measBox, nil
}

// number is the value of a field as expressions see it in fields.
func number(v lineprotocol.Value) (float64, bool) {
	if v.Kind() == lineprotocol.Bool {
		if v.BoolV() {
			return 1, true
		}
		return 0, true
	}
	return point.Float(v)
}

// expression is one compiled expression with the key path it came from.
type expression struct {
	path string
	prog *vm.Program
	uses uses
}

// compileExpr compiles src against env, expecting a result of kind want.
// A first parse finds the constant-key reads, whose functions must be
// declared before the checker sees the rewritten tree.
func (st *evalState) compileExpr(path, src string, want reflect.Kind) (*expression, error) {
	opts := []expr.Option{
		expr.Env(&env{}),
		expr.Function(fnField, st.field, new(func(string) float64)),
		expr.Function(fnSField, st.sfield, new(func(string) string)),
		expr.Function(fnTag, st.tag, new(func(string) string)),
		expr.Function(fnMeasurement, st.measurement, new(func() string)),
	}
	if tree, err := parser.Parse(src); err == nil {
		var scan rewriter
		ast.Walk(&tree.Node, &scan)
		seen := map[constRead]bool{}
		for _, c := range scan.consts {
			if !seen[c] {
				seen[c] = true
				fn, typ := st.constFunc(c)
				opts = append(opts, expr.Function(c.fn(), fn, typ))
			}
		}
	}
	rw := &rewriter{}
	prog, err := expr.Compile(src, append(opts, expr.AsKind(want), expr.Patch(rw))...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, firstLine(err.Error()))
	}
	if want == reflect.Float64 {
		// AsKind(Float64) makes the VM convert the result, boxing it
		// again; once the check has passed, compile without it and
		// convert in Apply.
		rw = &rewriter{}
		if prog, err = expr.Compile(src, append(opts, expr.AsAny(), expr.Patch(rw))...); err != nil {
			return nil, fmt.Errorf("%s: %s", path, firstLine(err.Error()))
		}
	}
	return &expression{path: path, prog: prog, uses: rw.uses()}, nil
}

// firstLine drops the source snippet expr adds below its message; the
// message already ends with the position, as in "... (1:6)".
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// EvalError is a runtime failure of one expression, or of writing its
// result, on one point. Path is the key path of the expression, such as
// "map.fields.temp_f".
type EvalError struct {
	Path string
	Err  error
}

func (e *EvalError) Error() string { return e.Path + ": " + firstLine(e.Err.Error()) }

// Unwrap returns the underlying error.
func (e *EvalError) Unwrap() error { return e.Err }

// Errors a map result can have.
var (
	// ErrNotFinite: a map field result is NaN, infinite or not a number.
	ErrNotFinite = errors.New("result is not a finite number")
	// ErrBadName: a map tag or measurement result cannot be written as
	// line protocol (control characters, invalid UTF-8, a trailing
	// backslash, or an empty measurement).
	ErrBadName = errors.New("result is not a valid line-protocol name")
)
