package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/rivulet-edge/rivulet/ops"
	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/window"
)

// gridOp runs tumbling and hopping windows. Points go into panes (one per
// point, however many windows overlap it); a window's result merges its
// panes per group. A window fires once the watermark passes its end; with
// late: update its panes stay allowed_lateness longer, and a late point
// marks the fired windows it belongs to for a second emission with the same
// identity.
type gridOp struct {
	name      string
	plan      *ops.Plan
	groupBy   []string
	grid      window.Grid
	late      string
	lateness  int64
	maxSeries int
	side      emitFunc // late points for late_to, or nil
	fill      fillMode
	ttl       int64
	// expect, when set, is told how many results a window is about to
	// emit (step.expect).
	expect func(n int)

	wm    window.Watermark
	fired int64 // every window ending at or before it has fired
	// panes holds each pane's groups by group key. A group's Tags are nil
	// when its key gives them (see keyTags): most groups hold no copy.
	panes map[int64]map[string]*ops.Group
	due   int64          // smallest end of an unfired window with data
	dirty map[int64]bool // fired windows to emit again
	known map[string]*knownGroup
	// nextFill is the start of the next window fill must consider.
	nextFill int64
	counts   opCounts

	keyBuf []byte
	// [paneLo, paneHi) is the pane of the last point: PaneStart divides,
	// and consecutive points mostly share a pane.
	paneLo, paneHi int64
	// scratch is the group WriteJSON writes when its tags come from its
	// key, jsonBuf its JSON.
	scratch ops.Group
	jsonBuf []byte
	out     point.Point
}

// knownGroup remembers a group's last result for fill.
type knownGroup struct {
	Tags   []point.Tag `json:"tags,omitempty"`
	Start  int64       `json:"start"`
	Fields []jsonField `json:"fields"`
}

type fillMode struct {
	on, previous bool
	value        float64
}

func parseFill(s string) (fillMode, error) {
	switch s {
	case "", "none":
		return fillMode{}, nil
	case "zero":
		return fillMode{on: true}, nil
	case "previous":
		return fillMode{on: true, previous: true}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fillMode{}, fmt.Errorf("must be none, zero, previous or a number, got %q", s)
	}
	return fillMode{on: true, value: v}, nil
}

func newGridOp(c StepConfig, side emitFunc) (*gridOp, error) {
	plan, err := ops.NewPlan(c.aggregates())
	if err != nil {
		return nil, err
	}
	fill, err := parseFill(c.Fill)
	if err != nil {
		return nil, err
	}
	return &gridOp{
		name: c.Name, plan: plan, groupBy: c.GroupBy, grid: window.NewGrid(c.Window),
		late: c.Window.Late, lateness: int64(c.Window.AllowedLateness), maxSeries: c.MaxSeries,
		side: side, fill: fill, ttl: int64(c.StateTTL),
		wm:    window.NewWatermark(c.Window.MaxDelay, c.Window.IdleTimeout),
		fired: window.None, panes: map[int64]map[string]*ops.Group{}, due: math.MaxInt64,
		dirty: map[int64]bool{}, known: map[string]*knownGroup{}, nextFill: window.None,
	}, nil
}

func (o *gridOp) Add(p *point.Point, t, proc int64, _ emitFunc) {
	o.wm.Observe(t, proc)
	ps := o.paneLo
	if t < o.paneLo || t >= o.paneHi {
		ps = o.grid.PaneStart(t)
		if end := o.grid.PaneEnd(ps); ps <= t && t < end {
			o.paneLo, o.paneHi = ps, end
		}
	}
	first, last := o.grid.Windows(ps)
	if o.fired != window.None && o.grid.End(first) <= o.fired {
		if !o.addLate(p, t, ps, first, last) {
			return
		}
	}
	o.keyBuf = appendGroupKey(o.keyBuf[:0], o.groupBy, p)
	pane := o.panes[ps]
	if pane == nil {
		pane = map[string]*ops.Group{}
		o.panes[ps] = pane
		o.noteDue(ps)
	}
	g, ok := pane[string(o.keyBuf)]
	if !ok {
		if len(pane) >= o.maxSeries {
			o.counts.Refused++
			return
		}
		g = o.plan.NewGroup(ownTags(o.groupBy, p))
		pane[string(o.keyBuf)] = g
	}
	o.plan.Add(g, p, t)
}

// addLate handles a point whose first window has fired and reports whether
// it still goes into its pane (for windows not fired yet, or to update held
// windows).
func (o *gridOp) addLate(p *point.Point, t, ps, first, last int64) bool {
	open := o.grid.End(last) > o.fired // a later window still to fire
	switch o.late {
	case window.LateUpdate:
		held := false
		for w := first; w <= last; w = o.grid.Next(w) {
			if end := o.grid.End(w); end <= o.fired && end+o.lateness > o.fired {
				o.dirty[w] = true
				held = true
			}
		}
		if held {
			o.counts.LateUpdated++
			return true
		}
	case window.LateSide:
		o.counts.LateSide++
		o.sideOut(p, t)
		return open
	}
	if o.late == window.LateUpdate && o.side != nil {
		o.counts.LateSide++
		o.sideOut(p, t)
	} else {
		o.counts.LateDropped++
	}
	return open
}

func (o *gridOp) sideOut(p *point.Point, t int64) {
	if o.side == nil {
		return
	}
	if p.Time == 0 {
		q := *p
		q.Time = t
		o.side(&q)
		return
	}
	o.side(p)
}

// noteDue lowers due to the end of the first unfired window holding the
// pane starting at ps.
func (o *gridOp) noteDue(ps int64) {
	first, last := o.grid.Windows(ps)
	for w := first; w <= last; w = o.grid.Next(w) {
		if end := o.grid.End(w); o.fired == window.None || end > o.fired {
			o.due = min(o.due, end)
			return
		}
	}
}

func (o *gridOp) Epoch(proc int64) { o.wm.Epoch(proc) }

func (o *gridOp) Advance(proc int64, emit emitFunc) {
	wm := o.wm.Advance(proc)
	if wm == window.None {
		return
	}
	if wm < o.due && len(o.dirty) == 0 && !o.fillDue(wm) {
		o.fired = wm
		return
	}
	var starts []int64
	seen := map[int64]bool{}
	for w := range o.dirty {
		starts, seen[w] = append(starts, w), true
	}
	clear(o.dirty)
	for ps := range o.panes {
		first, last := o.grid.Windows(ps)
		for w := first; w <= last; w = o.grid.Next(w) {
			if end := o.grid.End(w); (o.fired == window.None || end > o.fired) && end <= wm && !seen[w] {
				starts, seen[w] = append(starts, w), true
			}
		}
	}
	if o.fill.on {
		starts = o.fillWindows(wm, starts, seen)
	}
	slices.Sort(starts)
	for _, w := range starts {
		o.emitWindow(w, emit)
	}
	o.fired = wm
	o.expire(wm)
}

// fillDue reports whether fill has a window to emit at watermark wm.
func (o *gridOp) fillDue(wm int64) bool {
	return o.fill.on && len(o.known) > 0 && o.nextFill != window.None && o.grid.End(o.nextFill) <= wm
}

// fillWindows adds the windows up to wm that fill must consider although
// they hold no data, as long as a group known before them is young enough
// (state_ttl) to fill them. starts holds the data (and re-emitted) windows
// of this Advance: their groups are remembered as they are emitted, in
// window order, so they count as known for the windows after them.
func (o *gridOp) fillWindows(wm int64, starts []int64, seen map[int64]bool) []int64 {
	data := slices.Clone(starts)
	slices.Sort(data)
	w := o.nextFill
	if w == window.None {
		if len(data) == 0 {
			return starts
		}
		w = data[0]
	}
	newest := int64(math.MinInt64)
	for _, k := range o.known {
		newest = max(newest, k.Start)
	}
	i := 0
	for o.grid.End(w) <= wm {
		for i < len(data) && data[i] < w {
			newest = max(newest, data[i])
			i++
		}
		if newest == math.MinInt64 || w-newest > o.ttl {
			// Nothing to fill until the next data window, if any.
			if i == len(data) {
				break
			}
			newest, w = data[i], o.grid.Next(data[i])
			i++
			continue
		}
		if !seen[w] && (o.fired == window.None || o.grid.End(w) > o.fired) {
			starts, seen[w] = append(starts, w), true
		}
		w = o.grid.Next(w)
	}
	return starts
}

// emitWindow emits the results of the window starting at w: one per group
// with data, then the filled ones, in key order.
func (o *gridOp) emitWindow(w int64, emit emitFunc) {
	end := o.grid.End(w)
	groups := o.panes[w] // a window of one pane (tumbling) reads it as it is
	if o.grid.PaneEnd(w) < end {
		groups = o.mergePanes(w, end)
	}
	keys := make([]string, 0, len(groups)+len(o.known))
	for k := range groups {
		keys = append(keys, k)
	}
	if o.fill.on {
		for k, kg := range o.known {
			if _, ok := groups[k]; !ok && kg.Start < w && w-kg.Start <= o.ttl {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	if o.expect != nil {
		o.expect(len(keys))
	}
	for _, k := range keys {
		o.out = point.Point{Measurement: o.name, Time: w, Tags: o.out.Tags[:0], Fields: o.out.Fields[:0]}
		if g, ok := groups[k]; ok {
			if o.plan.Empty(g) {
				continue
			}
			o.out.Tags = o.appendTags(o.out.Tags, k, g)
			o.out.Fields = o.plan.AppendFields(o.out.Fields, g)
			if o.fill.on {
				o.remember(k, w, o.out.Tags, o.out.Fields)
			}
		} else {
			kg := o.known[k]
			o.out.Tags = append(o.out.Tags, kg.Tags...)
			o.out.Fields = o.fillFields(o.out.Fields, kg.Fields)
		}
		if len(o.out.Fields) > 0 {
			emit(&o.out)
		}
	}
	if o.fill.on && (o.nextFill == window.None || o.grid.Next(w) > o.nextFill) {
		o.nextFill = o.grid.Next(w)
	}
}

// mergePanes returns the groups of the window [w, end) of several panes:
// a group found in one pane is that pane's, one found in several a merged
// copy.
func (o *gridOp) mergePanes(w, end int64) map[string]*ops.Group {
	groups := map[string]*ops.Group{}
	var owned map[string]bool // groups merged into a copy
	for ps := w; ps < end; ps = o.grid.PaneEnd(ps) {
		for key, g := range o.panes[ps] {
			cur, ok := groups[key]
			switch {
			case !ok:
				groups[key] = g
			case !owned[key]:
				c := o.plan.Clone(cur)
				o.plan.Merge(c, g)
				groups[key] = c
				if owned == nil {
					owned = map[string]bool{}
				}
				owned[key] = true
			default:
				o.plan.Merge(cur, g)
			}
		}
	}
	return groups
}

// remember records the result fields of group key in window w; tags are
// borrowed.
func (o *gridOp) remember(key string, w int64, tags []point.Tag, fields []point.Field) {
	kg := o.known[key]
	if kg == nil {
		kg = &knownGroup{Tags: slices.Clone(tags)}
		o.known[key] = kg
	}
	if w >= kg.Start {
		kg.Start = w
		kg.Fields = toJSONFields(kg.Fields[:0], fields)
	}
}

// fillFields appends the fields of a filled result: the group's last
// fields, as they were (previous) or set to the fill value, counts to 0.
func (o *gridOp) fillFields(dst []point.Field, last []jsonField) []point.Field {
	for _, f := range last {
		switch {
		case o.fill.previous:
			dst = append(dst, f.field())
		case f.Int != nil:
			dst = append(dst, point.Field{Key: f.Key, Value: lineprotocol.IntValue(0)})
		case f.Float != nil:
			dst = append(dst, point.Field{Key: f.Key, Value: lineprotocol.MustNewValue(o.fill.value)})
		}
	}
	return dst
}

// expire drops the panes no held window needs, the groups fill has
// forgotten, and recomputes due.
func (o *gridOp) expire(wm int64) {
	o.due = math.MaxInt64
	for ps := range o.panes {
		_, last := o.grid.Windows(ps)
		if o.grid.End(last)+o.lateness <= wm {
			delete(o.panes, ps)
			continue
		}
		o.noteDue(ps)
	}
	for k, kg := range o.known {
		if wm-o.grid.End(kg.Start) > o.ttl {
			delete(o.known, k)
		}
	}
}

func (o *gridOp) Len() (windows, series int) {
	for _, p := range o.panes {
		series += len(p)
	}
	return len(o.panes), series
}

func (o *gridOp) Counts() opCounts { return o.counts }

// gridState is the checkpoint of a gridOp.
type gridState struct {
	Watermark window.Watermark       `json:"watermark"`
	Fired     int64                  `json:"fired"`
	Panes     []paneState            `json:"panes"`
	Dirty     []int64                `json:"dirty,omitempty"`
	Known     map[string]*knownGroup `json:"known,omitempty"`
	NextFill  int64                  `json:"next_fill"`
	Counts    opCounts               `json:"counts"`
}

type paneState struct {
	Start  int64        `json:"start"`
	Keys   []string     `json:"keys"`
	Groups []*ops.Group `json:"groups"`
}

func (o *gridOp) MarshalJSON() ([]byte, error) {
	st := gridState{Watermark: o.wm, Fired: o.fired, Known: o.known, NextFill: o.nextFill, Counts: o.counts}
	for _, ps := range sortedKeys(o.panes) {
		pane := paneState{Start: ps}
		for _, k := range sortedKeys(o.panes[ps]) {
			pane.Keys = append(pane.Keys, k)
			pane.Groups = append(pane.Groups, o.withTags(k, o.panes[ps][k], &ops.Group{}))
		}
		st.Panes = append(st.Panes, pane)
	}
	st.Dirty = sortedKeys(o.dirty)
	return json.Marshal(&st)
}

// WriteJSON writes to w the bytes MarshalJSON returns, a group at a time,
// so that the checkpoint of many groups is never held whole in memory.
func (o *gridOp) WriteJSON(w io.Writer) error {
	jw := jsonWriter{w: w}
	jw.raw(`{"watermark":`)
	jw.value(o.wm)
	jw.raw(`,"fired":`)
	jw.value(o.fired)
	jw.raw(`,"panes":`)
	if len(o.panes) == 0 {
		jw.raw("null")
	}
	for i, ps := range sortedKeys(o.panes) {
		jw.raw(jw.sep(i, "[") + `{"start":`)
		jw.value(ps)
		pane := o.panes[ps]
		keys := sortedKeys(pane)
		jw.raw(`,"keys":`)
		if len(keys) == 0 {
			jw.raw("null")
		}
		for j, k := range keys {
			jw.raw(jw.sep(j, "["))
			jw.str(k)
		}
		jw.close(len(keys), "]")
		jw.raw(`,"groups":`)
		if len(keys) == 0 {
			jw.raw("null")
		}
		for j, k := range keys {
			jw.raw(jw.sep(j, "["))
			o.writeGroup(&jw, k, pane[k])
		}
		jw.close(len(keys), "]")
		jw.raw("}")
	}
	jw.close(len(o.panes), "]")
	o.scratch = ops.Group{} // keep no group alive
	if len(o.dirty) > 0 {
		jw.raw(`,"dirty":`)
		jw.value(sortedKeys(o.dirty))
	}
	if len(o.known) > 0 {
		jw.raw(`,"known":`)
		for i, k := range sortedKeys(o.known) {
			jw.raw(jw.sep(i, "{"))
			jw.str(k)
			jw.raw(":")
			jw.value(o.known[k])
		}
		jw.raw("}")
	}
	jw.raw(`,"next_fill":`)
	jw.value(o.nextFill)
	jw.raw(`,"counts":`)
	jw.value(o.counts)
	jw.raw("}")
	return jw.err
}

func (o *gridOp) UnmarshalJSON(data []byte) error {
	var st gridState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	// Delays come from the config, progress from the checkpoint.
	o.wm.MaxEvent, o.wm.Active, o.wm.Value = st.Watermark.MaxEvent, st.Watermark.Active, st.Watermark.Value
	o.fired, o.nextFill, o.counts = st.Fired, st.NextFill, st.Counts
	if st.Known != nil {
		o.known = st.Known
	}
	for _, pane := range st.Panes {
		if len(pane.Keys) != len(pane.Groups) {
			return fmt.Errorf("pane %d: %d keys for %d groups", pane.Start, len(pane.Keys), len(pane.Groups))
		}
		m := make(map[string]*ops.Group, len(pane.Keys))
		for i, k := range pane.Keys {
			g := pane.Groups[i]
			if g == nil {
				return fmt.Errorf("pane %d: group %d is null", pane.Start, i)
			}
			o.dropKeyTags(k, g)
			m[k] = g
		}
		o.panes[pane.Start] = m
	}
	for _, w := range st.Dirty {
		o.dirty[w] = true
	}
	o.due = math.MaxInt64
	for ps := range o.panes {
		o.noteDue(ps)
	}
	return nil
}

// appendGroupKey appends the key of p's group to b: the values of the
// group_by tags, with absent tags distinct from empty ones.
func appendGroupKey(b []byte, groupBy []string, p *point.Point) []byte {
	for _, k := range groupBy {
		if v, ok := p.Tag(k); ok {
			b = append(b, 1)
			b = append(b, v...)
		}
		b = append(b, 0)
	}
	return b
}

// ownTags returns the tags a new group of p must hold: none (nil) when
// its group key gives them, which is when no group_by value holds a 0 byte
// (the key's separator); copies of them otherwise.
func ownTags(groupBy []string, p *point.Point) []point.Tag {
	for _, k := range groupBy {
		if v, ok := p.Tag(k); ok && strings.IndexByte(v, 0) >= 0 {
			return groupTags(groupBy, p)
		}
	}
	return nil
}

// keyTags appends to dst the tags a group key made by appendGroupKey
// encodes, sorted by key as groupTags sorts them; the values are
// substrings of key. It reports false, with dst unchanged, for a key that
// groupBy cannot have made.
func keyTags(dst []point.Tag, groupBy []string, key string) ([]point.Tag, bool) {
	n := len(dst)
	for _, k := range groupBy {
		if len(key) > 0 && key[0] == 1 {
			end := strings.IndexByte(key, 0)
			if end < 0 {
				return dst[:n], false
			}
			dst = append(dst, point.Tag{Key: k, Value: key[1:end]})
			key = key[end:]
		}
		if len(key) == 0 || key[0] != 0 {
			return dst[:n], false
		}
		key = key[1:]
	}
	if len(key) > 0 {
		return dst[:n], false
	}
	slices.SortFunc(dst[n:], compareTagKeys)
	return dst, true
}

func compareTagKeys(a, b point.Tag) int { return strings.Compare(a.Key, b.Key) }

// appendTags appends the tags of group g of key to dst: its own or, when
// it holds none, those its key gives.
func (o *gridOp) appendTags(dst []point.Tag, key string, g *ops.Group) []point.Tag {
	if g.Tags != nil {
		return append(dst, g.Tags...)
	}
	dst, _ = keyTags(dst, o.groupBy, key)
	return dst
}

// withTags returns g as a checkpoint writes it, with its tags: g itself
// when it holds them (or has none), else c set to a shallow copy of g with
// the tags of its key, in c's Tags array if it is large enough.
func (o *gridOp) withTags(key string, g, c *ops.Group) *ops.Group {
	if g.Tags != nil {
		return g
	}
	tags := o.appendTags(c.Tags[:0], key, g)
	if len(tags) == 0 {
		return g
	}
	*c = *g
	c.Tags = tags
	return c
}

// writeGroup writes group g of key to jw as json.Marshal of withTags's
// result would, without garbage for the common groups (see AppendJSON).
func (o *gridOp) writeGroup(jw *jsonWriter, key string, g *ops.Group) {
	if jw.err != nil {
		return
	}
	o.jsonBuf, jw.err = o.withTags(key, g, &o.scratch).AppendJSON(o.jsonBuf[:0])
	if jw.err == nil {
		_, jw.err = jw.w.Write(o.jsonBuf)
	}
}

// dropKeyTags lets a restored group g of key share its key's bytes rather
// than hold tags equal to those the key gives.
func (o *gridOp) dropKeyTags(key string, g *ops.Group) {
	if len(g.Tags) == 0 || len(g.Tags) > len(o.groupBy) {
		return
	}
	var arr [8]point.Tag
	tags, ok := keyTags(arr[:0], o.groupBy, key)
	if ok && slices.Equal(tags, g.Tags) {
		g.Tags = nil
	}
}

// groupTags returns copies of p's group_by tags, sorted by key.
func groupTags(groupBy []string, p *point.Point) []point.Tag {
	var tags []point.Tag
	for _, k := range groupBy {
		if v, ok := p.Tag(k); ok {
			tags = append(tags, point.Tag{Key: k, Value: strings.Clone(v)})
		}
	}
	slices.SortFunc(tags, func(a, b point.Tag) int { return strings.Compare(a.Key, b.Key) })
	return tags
}

// jsonField is a result field as the checkpoint stores it.
type jsonField struct {
	Key    string   `json:"k"`
	Float  *float64 `json:"f,omitempty"`
	Int    *int64   `json:"i,omitempty"`
	String *string  `json:"s,omitempty"`
}

func toJSONFields(dst []jsonField, fields []point.Field) []jsonField {
	for _, f := range fields {
		jf := jsonField{Key: f.Key}
		switch f.Value.Kind() {
		case lineprotocol.Float:
			v := f.Value.FloatV()
			jf.Float = &v
		case lineprotocol.Int:
			v := f.Value.IntV()
			jf.Int = &v
		case lineprotocol.String:
			v := f.Value.StringV()
			jf.String = &v
		default:
			continue
		}
		dst = append(dst, jf)
	}
	return dst
}

func (f jsonField) field() point.Field {
	switch {
	case f.Float != nil:
		return point.Field{Key: f.Key, Value: lineprotocol.MustNewValue(*f.Float)}
	case f.Int != nil:
		return point.Field{Key: f.Key, Value: lineprotocol.IntValue(*f.Int)}
	}
	return point.Field{Key: f.Key, Value: lineprotocol.MustNewValue(*f.String)}
}

func sortedKeys[K int64 | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (o *gridOp) summary() (*window.Watermark, []WindowSummary) {
	wm := o.wm
	var ws []WindowSummary
	for _, ps := range sortedKeys(o.panes) {
		ws = append(ws, WindowSummary{Start: ps, Series: len(o.panes[ps])})
	}
	return &wm, ws
}
