package wal

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// line100 is one line of protocol of exactly 100 bytes for ingest index i.
func line100(i uint64) []byte {
	b := []byte("m,lane=x v=1 ")
	ts := []byte("1000000000000000000")
	ts[len(ts)-1] = byte('0' + i%10)
	b = append(b, ts...)
	for len(b) < 99 {
		b = append([]byte("m"), b...)
	}
	return append(b, '\n')
}

// size100 is an entry of line100 on disk, counted by hand: record = format
// 1 + kind 1 + ingest index 8 + fingerprint count 1 + points length 1 +
// points 100 + crc 4 = 116, framed with a 1-byte length.
const size100 = 117

func openBudgetBox(t *testing.T, name string) *Outbox {
	t.Helper()
	dir := t.TempDir()
	o, _, err := OpenOutbox(filepath.Join(dir, name), Options{SegmentSize: 1 << 20, Quarantine: filepath.Join(dir, "q")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestBudgetEntrySize(t *testing.T) {
	if n := len(line100(1)); n != 100 {
		t.Fatalf("line100 has %d bytes", n)
	}
	o := openBudgetBox(t, "a")
	for i := uint64(1); i <= 3; i++ {
		if err := o.Append(i, line100(i), false); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.log.Size(); got != 3*size100 {
		t.Errorf("Size after 3 entries = %d, want %d", got, 3*size100)
	}
}

// TestBudgetCompressed: with Options.Compress a budget counts the bytes
// records take on disk, compressed. A cap of five compressed entries takes
// five (counting their points, it would refuse the second), and
// DropOldest drops one entry to make room for one more.
func TestBudgetCompressed(t *testing.T) {
	var points []byte
	for i := range 40 {
		points = append(points, line100(uint64(i%4))...)
	}
	open := func(name string) *Outbox {
		dir := t.TempDir()
		o, _, err := OpenOutbox(filepath.Join(dir, name), Options{SegmentSize: 1 << 20, Quarantine: filepath.Join(dir, "q"), Compress: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	probe := open("probe")
	if err := probe.Append(1, points, false); err != nil {
		t.Fatal(err)
	}
	size := probe.log.Size()
	if size*4 > int64(len(points)) {
		t.Fatalf("an entry of %d bytes of points takes %d bytes: not compressed", len(points), size)
	}
	for _, policy := range []FullPolicy{Block, DropOldest} {
		o := open("a")
		b := NewBudget(5*size, policy)
		b.Add(o, 0)
		for i := uint64(1); i <= 5; i++ {
			if err := o.Append(i, points, false); err != nil {
				t.Fatalf("policy %v, entry %d of 5 that fit: %v", policy, i, err)
			}
		}
		err := o.Append(6, points, false)
		switch policy {
		case Block:
			if !errors.Is(err, ErrOutboxFull) {
				t.Errorf("a sixth entry over the cap: %v, want ErrOutboxFull", err)
			}
		case DropOldest:
			if err != nil {
				t.Fatal(err)
			}
			if got, want := o.Dropped(), uint64(40); got != want {
				t.Errorf("dropped %d points to make room for one entry, want %d (one entry)", got, want)
			}
		}
	}
}

func TestBudgetBlock(t *testing.T) {
	o := openBudgetBox(t, "a")
	b := NewBudget(5*size100, Block)
	b.Add(o, 0)
	for i := uint64(1); i <= 5; i++ {
		if err := o.Append(i, line100(i), false); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	err := o.Append(6, line100(6), false)
	if !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("Append over the cap: %v, want ErrOutboxFull", err)
	}
	if o.HighWater() != 5 || o.log.LastIndex() != 5 {
		t.Fatalf("refused append changed the outbox: high %d last %d", o.HighWater(), o.log.LastIndex())
	}
	// Delivering makes room: the delivered entries are reclaimed first.
	if err := o.Commit(3); err != nil {
		t.Fatal(err)
	}
	if err := o.Append(6, line100(6), false); err != nil {
		t.Fatalf("Append after delivery: %v", err)
	}
	if used := b.Used(); used > b.Max() {
		t.Errorf("used %d over cap %d", used, b.Max())
	}
	if o.Dropped() != 0 {
		t.Errorf("Block dropped %d points", o.Dropped())
	}
}

// TestBudgetBlockNothingPending checks that an entry larger than the cap
// is not refused forever when nothing is left to deliver.
func TestBudgetBlockNothingPending(t *testing.T) {
	o := openBudgetBox(t, "a")
	b := NewBudget(50, Block)
	b.Add(o, 0)
	if err := o.Append(1, line100(1), false); err != nil {
		t.Fatalf("first append into an empty outbox: %v", err)
	}
	if err := o.Append(2, line100(2), false); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("second append: %v, want ErrOutboxFull", err)
	}
}

func TestBudgetDropOldestByRank(t *testing.T) {
	alerts, results, raw := openBudgetBox(t, "alerts"), openBudgetBox(t, "results"), openBudgetBox(t, "raw")
	b := NewBudget(10*size100, DropOldest)
	b.Add(alerts, 2)
	b.Add(results, 1)
	b.Add(raw, 0)
	fill := func(o *Outbox, from, n uint64) {
		for i := from; i < from+n; i++ {
			if err := o.Append(i, line100(i), false); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(raw, 1, 4)
	fill(results, 1, 4)
	fill(alerts, 1, 2)
	if raw.Dropped()+results.Dropped()+alerts.Dropped() != 0 {
		t.Fatal("dropped before the cap")
	}
	// Each alert needs one entry's room. The first three take raw entries
	// 1-3; the fourth moves raw's cursor past its last entry, which the log
	// keeps on disk (it never drops its last entry), so results entry 1
	// goes too.
	for i, want := range []struct{ raw, results uint64 }{{1, 0}, {2, 0}, {3, 0}, {4, 1}} {
		fill(alerts, uint64(3+i), 1)
		if raw.Dropped() != want.raw || results.Dropped() != want.results || alerts.Dropped() != 0 {
			t.Errorf("after alert %d: dropped raw %d results %d alerts %d, want %d %d 0",
				i+1, raw.Dropped(), results.Dropped(), alerts.Dropped(), want.raw, want.results)
		}
		if used := b.Used(); used > b.Max() {
			t.Errorf("after alert %d: used %d over cap %d", i+1, used, b.Max())
		}
	}
	if raw.Cursor() != 4 || results.Cursor() != 1 || alerts.Cursor() != 0 {
		t.Errorf("cursors raw %d results %d alerts %d, want 4 1 0", raw.Cursor(), results.Cursor(), alerts.Cursor())
	}
	// The survivors are delivered in order.
	got, err := results.Next(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.Seq != uint64(i+2) || !bytes.Equal(e.Points, line100(uint64(i+2))) {
			t.Errorf("results entry %d = seq %d %q", i, e.Seq, e.Points)
		}
	}
	// The dropping survives a reopen: the cursor was saved.
	dir := filepath.Dir(raw.cursorPath)
	raw.Close()
	re, _, err := OpenOutbox(dir, Options{SegmentSize: 1 << 20, Quarantine: filepath.Join(filepath.Dir(dir), "q")})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if re.Cursor() != 4 {
		t.Errorf("reopened raw cursor %d, want 4", re.Cursor())
	}
}

func TestOutEntryAppended(t *testing.T) {
	o := openBudgetBox(t, "a")
	// After the opening, which counted pending entries from the real now.
	t0 := time.Now().Add(time.Hour).Truncate(time.Second)
	now := t0
	o.now = func() time.Time { return now }
	for i := uint64(1); i <= 3; i++ {
		if err := o.Append(i, line100(i), false); err != nil {
			t.Fatal(err)
		}
		now = now.Add(1500 * time.Millisecond)
	}
	got, err := o.Next(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Appended at 0 s, 1.5 s and 3 s: to the second.
	want := []time.Time{t0, t0.Add(time.Second), t0.Add(3 * time.Second)}
	for i, e := range got {
		if !e.Appended.Equal(want[i]) {
			t.Errorf("entry %d appended %v, want %v", i+1, e.Appended, want[i])
		}
	}
}
