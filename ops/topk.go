package ops

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// topK counts the values of a tag for topk(k,tag). It keeps at most
// capacity = 8·k values (the plan's): while no more distinct values have
// been seen, the counts are exact. Past that it is a Space-Saving summary
// (Metwally et al.): a new value replaces the one with the least count (the
// smallest value on ties) and inherits that count + 1, so a count is never
// below the true one and exceeds it by at most n/capacity; a value whose
// share of the n points is above 1/capacity is always kept. Merging adds
// the counts and, for a value missing from a full summary, that summary's
// least count (Agarwal et al.'s mergeable summaries), then keeps the
// capacity values of highest count (ties: smallest value).
type topK struct {
	e []topEntry // sorted by value
}

// topEntry is one counted value; val's buffer is reused when the entry is
// replaced, so a full summary allocates nothing per point.
type topEntry struct {
	val []byte
	n   int64
}

// find returns the index of v in t.e or where it would be inserted.
func (t *topK) find(v string) (int, bool) {
	lo, hi := 0, len(t.e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(t.e[m].val) < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(t.e) && string(t.e[lo].val) == v
}

// add counts one occurrence of v (which may be borrowed) with at most
// capacity values kept.
func (t *topK) add(v string, capacity int) {
	i, found := t.find(v)
	if found {
		t.e[i].n++
		return
	}
	if len(t.e) < capacity {
		t.e = slices.Insert(t.e, i, topEntry{val: []byte(v), n: 1})
		return
	}
	j := t.least()
	e := topEntry{val: append(t.e[j].val[:0], v...), n: t.e[j].n + 1}
	// Move the entries between j and i by one to keep t.e sorted.
	if j < i {
		copy(t.e[j:i-1], t.e[j+1:i])
		t.e[i-1] = e
	} else {
		copy(t.e[i+1:j+1], t.e[i:j])
		t.e[i] = e
	}
}

// least returns the index of the entry with the least count, the first
// (smallest value) on ties.
func (t *topK) least() int {
	j := 0
	for i := 1; i < len(t.e); i++ {
		if t.e[i].n < t.e[j].n {
			j = i
		}
	}
	return j
}

// merge folds o into t with at most capacity values kept; o is unchanged.
func (t *topK) merge(o *topK, capacity int) {
	var tMin, oMin int64
	if len(t.e) >= capacity && len(t.e) > 0 {
		tMin = t.e[t.least()].n
	}
	if len(o.e) >= capacity && len(o.e) > 0 {
		oMin = o.e[o.least()].n
	}
	if t.covers(o) { // every value of o is counted in t: add in place
		for i, j := 0, 0; i < len(t.e); i++ {
			if j < len(o.e) && string(t.e[i].val) == string(o.e[j].val) {
				t.e[i].n += o.e[j].n
				j++
			} else {
				t.e[i].n += oMin
			}
		}
		return
	}
	u := make([]topEntry, 0, len(t.e)+len(o.e))
	i, j := 0, 0
	for i < len(t.e) || j < len(o.e) {
		c := 0
		switch {
		case i == len(t.e):
			c = 1
		case j == len(o.e):
			c = -1
		default:
			c = strings.Compare(string(t.e[i].val), string(o.e[j].val))
		}
		switch {
		case c < 0:
			u = append(u, topEntry{t.e[i].val, t.e[i].n + oMin})
			i++
		case c > 0:
			u = append(u, topEntry{slices.Clone(o.e[j].val), o.e[j].n + tMin})
			j++
		default:
			u = append(u, topEntry{t.e[i].val, t.e[i].n + o.e[j].n})
			i, j = i+1, j+1
		}
	}
	if len(u) > capacity {
		slices.SortFunc(u, byCount)
		u = u[:capacity]
		slices.SortFunc(u, func(a, b topEntry) int { return strings.Compare(string(a.val), string(b.val)) })
	}
	t.e = u
}

// covers reports whether every value of o is in t.
func (t *topK) covers(o *topK) bool {
	i := 0
	for j := range o.e {
		for i < len(t.e) && string(t.e[i].val) < string(o.e[j].val) {
			i++
		}
		if i == len(t.e) || string(t.e[i].val) != string(o.e[j].val) {
			return false
		}
	}
	return true
}

// byCount orders entries by count, highest first, then by value.
func byCount(a, b topEntry) int {
	switch {
	case a.n > b.n:
		return -1
	case a.n < b.n:
		return 1
	}
	return strings.Compare(string(a.val), string(b.val))
}

// top calls fn for the k values of highest count in byCount order. It
// selects in k passes, allocating nothing.
func (t *topK) top(k int, fn func(val []byte, n int64)) {
	var prev *topEntry
	for range k {
		var best *topEntry
		for i := range t.e {
			e := &t.e[i]
			if prev != nil && byCount(*e, *prev) <= 0 {
				continue
			}
			if best == nil || byCount(*e, *best) < 0 {
				best = e
			}
		}
		if best == nil {
			return
		}
		fn(best.val, best.n)
		prev = best
	}
}

// clone returns a deep copy of t (nil for nil).
func (t *topK) clone() *topK {
	if t == nil {
		return nil
	}
	c := &topK{e: make([]topEntry, len(t.e))}
	for i, e := range t.e {
		c.e[i] = topEntry{slices.Clone(e.val), e.n}
	}
	return c
}

// topEntryJSON is a topEntry's JSON form: the value as a string when it is
// valid UTF-8 (JSON would mangle it otherwise), else its bytes in base64.
type topEntryJSON struct {
	V string `json:"v,omitempty"`
	B []byte `json:"b,omitempty"`
	N int64  `json:"n"`
}

// MarshalJSON writes t's entries in value order.
func (t *topK) MarshalJSON() ([]byte, error) {
	js := make([]topEntryJSON, len(t.e))
	for i, e := range t.e {
		if utf8.Valid(e.val) {
			js[i] = topEntryJSON{V: string(e.val), N: e.n}
		} else {
			js[i] = topEntryJSON{B: e.val, N: e.n}
		}
	}
	return json.Marshal(js)
}

// UnmarshalJSON reads what MarshalJSON wrote, checking the order.
func (t *topK) UnmarshalJSON(b []byte) error {
	var js []topEntryJSON
	if err := json.Unmarshal(b, &js); err != nil {
		return fmt.Errorf("top-k state: %w", err)
	}
	if len(js) > topKFactor*maxTopK {
		return fmt.Errorf("top-k state: %d values, at most %d", len(js), topKFactor*maxTopK)
	}
	t.e = make([]topEntry, len(js))
	for i, j := range js {
		v := j.B
		if v == nil {
			v = []byte(j.V)
		}
		t.e[i] = topEntry{v, j.N}
		if i > 0 && string(t.e[i-1].val) >= string(v) {
			return fmt.Errorf("top-k state: values not in order at %d", i)
		}
	}
	return nil
}
