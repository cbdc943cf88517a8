package series

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// stateVersion is bumped when the checkpoint layout changes incompatibly.
const stateVersion = 1

// checkpoint is the JSON form of an Op's state.
type checkpoint struct {
	Version int    `json:"version"`
	Sig     string `json:"sig"`
	// Names are the interned field names in id order (no Fields configured).
	Names      []string `json:"names,omitempty"`
	Epoch      int64    `json:"epoch"`
	Dropped    uint64   `json:"dropped"`
	OutOfOrder uint64   `json:"out_of_order"`
	Expired    uint64   `json:"expired"`
	// Series are in order of last data, oldest first.
	Series []seriesState `json:"series"`
}

type seriesState struct {
	Key    []byte       `json:"key"` // appendKey bytes, base64: names need not be UTF-8
	Seen   int64        `json:"seen"`
	Silent bool         `json:"silent,omitempty"`
	Since  int64        `json:"since,omitempty"`
	Fields []fieldState `json:"fields,omitempty"`
	Ring   []jsonFloat  `json:"ring,omitempty"`
}

type fieldState struct {
	ID uint32    `json:"id"`
	N  uint32    `json:"n"`
	T  int64     `json:"t"`
	V  jsonFloat `json:"v"`
}

// MarshalJSON checkpoints all state: every series, the field names, the
// epoch and the counters.
func (o *Op) MarshalJSON() ([]byte, error) {
	c := checkpoint{
		Version: stateVersion, Sig: o.cfg.signature(), Epoch: o.epoch,
		Dropped: o.dropped, OutOfOrder: o.outOfOrder, Expired: o.expired,
		Series: make([]seriesState, 0, len(o.index)),
	}
	if !o.fixed {
		c.Names = o.names
	}
	for _, l := range [...]*list{&o.quiet, &o.live} {
		for s := l.head; s != nil; s = s.next {
			c.Series = append(c.Series, o.saveSeries(s))
		}
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode %s state: %w", o.kind, err)
	}
	return data, nil
}

func (o *Op) saveSeries(s *series) seriesState {
	ss := seriesState{Key: []byte(s.key), Seen: s.seen, Silent: s.silent}
	for _, f := range s.fields {
		ss.Fields = append(ss.Fields, fieldState{ID: f.id, N: f.n, T: f.t, V: jsonFloat(f.v)})
	}
	if s.ext != nil {
		ss.Since = s.ext.since
		for _, v := range s.ext.ring {
			ss.Ring = append(ss.Ring, jsonFloat(v))
		}
	}
	return ss
}

// UnmarshalJSON replaces the state of o, which New built, with a
// checkpoint made by MarshalJSON of an Op of the same op, fields and
// points. On error o is unchanged.
func (o *Op) UnmarshalJSON(data []byte) error {
	if o.index == nil {
		return errors.New("restore series state: Op not built by New")
	}
	var c checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("decode %s state: %w", o.kind, err)
	}
	if c.Version != stateVersion {
		return fmt.Errorf("%s state version %d, this build reads %d", o.kind, c.Version, stateVersion)
	}
	if sig := o.cfg.signature(); c.Sig != sig {
		return fmt.Errorf("%s state is for %q, this step is %q", o.kind, c.Sig, sig)
	}
	r, err := o.rebuild(&c)
	if err != nil {
		return fmt.Errorf("restore %s state: %w", o.kind, err)
	}
	*o = *r
	return nil
}

// rebuild makes a fresh Op from o's config holding the state of c.
func (o *Op) rebuild(c *checkpoint) (*Op, error) {
	r, err := New(o.name, o.cfg)
	if err != nil {
		return nil, err
	}
	if !r.fixed {
		if len(c.Names) > maxNames {
			return nil, fmt.Errorf("%d field names, at most %d", len(c.Names), maxNames)
		}
		for _, n := range c.Names {
			if _, dup := r.ids[n]; dup {
				return nil, fmt.Errorf("field name %q twice", n)
			}
			r.intern(n)
		}
	}
	r.epoch, r.dropped, r.outOfOrder, r.expired = c.Epoch, c.Dropped, c.OutOfOrder, c.Expired
	prev := int64(math.MinInt64)
	for i, ss := range c.Series {
		if err := r.restoreSeries(&ss, prev); err != nil {
			return nil, fmt.Errorf("series %d: %w", i, err)
		}
		prev = ss.Seen
	}
	r.peak = len(r.index)
	return r, nil
}

// restoreSeries adds one series, checking what the invariants of Add and
// Advance rely on: keys well formed and distinct, series in order of last
// data with the silent ones first, field ids and ring sizes that fit.
func (o *Op) restoreSeries(ss *seriesState, prev int64) error {
	key := string(ss.Key)
	if _, _, ok := parseKey(key, nil); !ok {
		return errors.New("malformed key")
	}
	if o.index[key] != nil {
		return errors.New("key twice")
	}
	if ss.Seen < prev || (ss.Silent && o.live.head != nil) || (ss.Silent && o.kind != opNoData) {
		return errors.New("out of order")
	}
	s := o.newSeries(key)
	s.seen, s.silent = ss.Seen, ss.Silent
	if err := o.restoreFields(s, ss); err != nil {
		delete(o.index, key)
		return err
	}
	if s.silent {
		o.quiet.pushBack(s)
	} else {
		o.live.pushBack(s)
	}
	return nil
}

func (o *Op) restoreFields(s *series, ss *seriesState) error {
	if o.fixed && len(ss.Fields) != len(s.fields) {
		return fmt.Errorf("%d fields, want %d", len(ss.Fields), len(s.fields))
	}
	if !o.fixed {
		s.fields = make([]fstate, 0, len(ss.Fields))
	}
	seen := map[uint32]bool{}
	for i, f := range ss.Fields {
		if int(f.ID) >= len(o.names) || seen[f.ID] || (o.fixed && int(f.ID) != i) {
			return fmt.Errorf("field id %d out of place", f.ID)
		}
		seen[f.ID] = true
		if o.kind == opMovingAverage && (int(f.N) > o.cfg.Points || f.T < 0 || f.T >= int64(o.cfg.Points)) {
			return fmt.Errorf("field %d: ring position %d with %d values does not fit %d points", f.ID, f.T, f.N, o.cfg.Points)
		}
		st := fstate{id: f.ID, n: f.N, t: f.T, v: float64(f.V)}
		if o.fixed {
			s.fields[i] = st
		} else {
			s.fields = append(s.fields, st)
		}
	}
	if s.ext == nil {
		return nil
	}
	s.ext.since = ss.Since
	if o.kind == opMovingAverage {
		if len(ss.Ring) != len(s.fields)*o.cfg.Points {
			return fmt.Errorf("ring of %d values, want %d", len(ss.Ring), len(s.fields)*o.cfg.Points)
		}
		s.ext.ring = make([]float64, len(ss.Ring))
		for i, v := range ss.Ring {
			s.ext.ring[i] = float64(v)
		}
	}
	return nil
}

// jsonFloat is a float64 that also encodes NaN and ±Inf, which a running
// sum can reach by overflow, as the strings "NaN", "+Inf" and "-Inf".
// Finite values round-trip exactly.
type jsonFloat float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jsonFloat(math.NaN())
		return nil
	case `"+Inf"`:
		*f = jsonFloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("invalid number %s", b)
	}
	*f = jsonFloat(v)
	return nil
}
