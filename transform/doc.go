// Package transform provides the stateless operators of a pipeline step:
// filter (where), map, rename, keep, drop, enrich and split.
//
// A Config is compiled once into a Program; Program.Apply then runs the
// operators on each point in this fixed order, whatever the order of the
// keys in the site config:
//
//	where → map → rename → keep → drop → enrich → split → emit
//
// # Expressions
//
// where, map.fields, map.tags and map.measurement are expressions in the
// language of github.com/expr-lang/expr, type-checked at load time against
// this environment:
//
//	measurement  string              the point's measurement
//	time         int64               the point's timestamp in ns (0 if none);
//	                                 int64, not int, so that 32-bit ARM
//	                                 builds do not truncate it
//	tags         map[string]string   the tags
//	fields       map[string]float64  numeric fields: float, int, uint, and
//	                                 booleans as 1 (true) or 0 (false)
//	sfields      map[string]string   string fields
//
// Every expression of a step sees the point as it arrived at the step, so
// the map expressions do not see each other's results and their order does
// not matter.
//
// A missing key behaves like SQL's NULL: an expression that reads
// fields.x, fields["x"], sfields.x or tags.x for a key the point lacks is
// not applicable to that point. A where clause that is not applicable is
// false (the point is dropped); a map entry that is not applicable is
// skipped (the field, tag or measurement stays as it was). Neither is an
// error. Test for presence with `"x" in fields` to choose a default, as in
// `"x" in fields ? fields.x : 0`; the branch not taken is not evaluated.
//
// # Results and errors
//
// A map field is always written as a float field, whatever the types of its
// inputs; an expression that does not return a number is rejected at load
// time. A map tag must return a string; an empty string removes the tag. A
// map measurement must return a non-empty string.
//
// Runtime failures (a NaN or infinite field value, an integer division by
// zero, a tag value that line protocol cannot carry) never panic. A failing
// where drops the point; a failing map entry is skipped and the rest of the
// point goes on. Apply returns them as *EvalError values (joined when
// there are several) so that the caller can count them; the point's other
// results are emitted all the same.
//
// # Other operators
//
// rename maps old keys to new ones simultaneously (a swap works); a renamed
// key replaces a field or tag that already had the new key. keep leaves
// only the listed fields and tags (an empty list keeps all of that kind);
// drop removes the listed ones. A point left without fields is dropped, as
// line protocol has no point without fields; that is not an error.
//
// enrich looks up the value of one tag in a table and adds the tags of the
// matching row, or of default when the tag is absent or has no row. It never
// overwrites a tag the point already has, so data from the device wins over
// the table, and an earlier enrich entry wins over a later one.
//
// split turns each selected field into a point of its own that carries the
// tags and time of the original and one field named split.field ("value"
// by default). Its measurement is the original field key, or, with
// split.tag set, the original measurement with that tag set to the field
// key (replacing a tag of that name). Fields that are not selected are not
// emitted; a point that has none of the selected fields emits nothing.
//
// A Program is not safe for concurrent use: it reuses its scratch points,
// environment and expression VM between calls.
package transform
