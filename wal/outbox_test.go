package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openOutbox(t *testing.T, dir string) (*Outbox, Repair) {
	t.Helper()
	o, rep, err := OpenOutbox(dir, Options{SegmentSize: 512, Quarantine: filepath.Join(filepath.Dir(dir), "q")})
	if err != nil {
		t.Fatalf("OpenOutbox: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o, rep
}

// result is the points of the result for ingest index i: i%3+1 lines.
func result(i uint64) []byte {
	var b []byte
	for j := uint64(0); j <= i%3; j++ {
		b = fmt.Appendf(b, "agg,sensor=s%d mean=%d %d\n", j, i, i*10)
	}
	return b
}

func appendResults(t *testing.T, o *Outbox, ingest ...uint64) {
	t.Helper()
	for _, i := range ingest {
		if err := o.Append(i, result(i), i%2 == 0); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
}

// checkNext calls Next without limits and compares seqs and contents.
func checkNext(t *testing.T, o *Outbox, seqs []uint64, ingest []uint64) []OutEntry {
	t.Helper()
	got, err := o.Next(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(seqs) {
		t.Fatalf("Next returned %d entries, want %d", len(got), len(seqs))
	}
	for i, e := range got {
		if e.Seq != seqs[i] || e.IngestIndex != ingest[i] || !bytes.Equal(e.Points, result(ingest[i])) {
			t.Fatalf("entry %d = {%d %d %q}, want seq %d ingest %d", i, e.Seq, e.IngestIndex, e.Points, seqs[i], ingest[i])
		}
	}
	return got
}

func TestOutboxDelivery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "influx")
	o, rep := openOutbox(t, dir)
	if !rep.Empty() || o.HighWater() != 0 || o.Cursor() != 0 {
		t.Fatalf("fresh outbox: %v hw %d cursor %d", rep, o.HighWater(), o.Cursor())
	}
	appendResults(t, o, 10, 20, 30, 40, 50)
	checkNext(t, o, []uint64{1, 2, 3, 4, 5}, []uint64{10, 20, 30, 40, 50})
	checkNext(t, o, []uint64{1, 2, 3, 4, 5}, []uint64{10, 20, 30, 40, 50})
	if err := o.Commit(3); err != nil {
		t.Fatal(err)
	}
	if n, b := o.Backlog(); n != 2 || b <= 0 {
		t.Fatalf("Backlog = %d, %d", n, b)
	}
	if err := o.Commit(2); err != nil || o.Cursor() != 3 {
		t.Fatalf("Commit below cursor = %v, cursor %d", err, o.Cursor())
	}
	if err := o.Commit(6); err == nil {
		t.Fatal("Commit past the last entry succeeded")
	}
	o.Close()
	o, rep = openOutbox(t, dir)
	if !rep.Empty() || o.Cursor() != 3 || o.HighWater() != 50 {
		t.Fatalf("reopen: %v cursor %d hw %d", rep, o.Cursor(), o.HighWater())
	}
	checkNext(t, o, []uint64{4, 5}, []uint64{40, 50})
	appendResults(t, o, 51)
	checkNext(t, o, []uint64{4, 5, 6}, []uint64{40, 50, 51})
}

func TestOutboxNextLimits(t *testing.T) {
	o, _ := openOutbox(t, filepath.Join(t.TempDir(), "o"))
	appendResults(t, o, 1, 2, 3, 4) // 2, 3, 1, 2 lines
	size := func(i uint64) int { return len(result(i)) }
	tests := []struct {
		name                string
		maxPoints, maxBytes int
		want                int
	}{
		{"no limits", 0, 0, 4},
		{"points fit two", 5, 0, 2},
		{"points fit three", 6, 0, 3},
		{"first exceeds points", 1, 0, 1},
		{"bytes fit one", 0, size(1) + size(2) - 1, 1},
		{"bytes fit two", 0, size(1) + size(2), 2},
		{"first exceeds bytes", 0, 1, 1},
		{"both", 8, size(1) + size(2) + size(3), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := o.Next(tt.maxPoints, tt.maxBytes)
			if err != nil || len(got) != tt.want {
				t.Fatalf("Next(%d, %d) = %d entries, %v; want %d", tt.maxPoints, tt.maxBytes, len(got), err, tt.want)
			}
		})
	}
}

// TestOutboxPointsNotAliased checks that returned Points, which share the
// log's memory, survive later calls and appends, and that appending to
// them does not write into the log.
func TestOutboxPointsNotAliased(t *testing.T) {
	o, _ := openOutbox(t, filepath.Join(t.TempDir(), "o"))
	appendResults(t, o, 1, 2, 3)
	first, _ := o.Next(0, 0)
	keep := [][]byte{bytes.Clone(first[0].Points), bytes.Clone(first[1].Points)}
	first[0].Points = append(first[0].Points, "overflow"...)
	appendResults(t, o, 4, 5)
	checkNext(t, o, []uint64{1, 2, 3, 4, 5}, []uint64{1, 2, 3, 4, 5})
	if !bytes.Equal(first[0].Points[:len(keep[0])], keep[0]) || !bytes.Equal(first[1].Points, keep[1]) {
		t.Fatal("a later Next or Append changed returned Points")
	}
}

// TestOutboxCompressed delivers from an outbox whose records are
// compressed (Options.Compress). Next decompresses each entry into memory
// of its own: the decoding of the next entry must not reuse it, and later
// calls and appends must not change it.
func TestOutboxCompressed(t *testing.T) {
	dir := t.TempDir()
	o, _, err := OpenOutbox(filepath.Join(dir, "c"), Options{SegmentSize: 512, Quarantine: filepath.Join(dir, "q"), Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	appendResults(t, o, 1, 2, 3, 4, 5, 6) // 2, 3, 1, 2, 3, 1 lines
	first := checkNext(t, o, []uint64{1, 2, 3, 4, 5, 6}, []uint64{1, 2, 3, 4, 5, 6})
	keep := make([][]byte, len(first))
	for i, e := range first {
		keep[i] = bytes.Clone(e.Points)
	}
	appendResults(t, o, 7, 8)
	checkNext(t, o, []uint64{1, 2, 3, 4, 5, 6, 7, 8}, []uint64{1, 2, 3, 4, 5, 6, 7, 8})
	for i, e := range first {
		if !bytes.Equal(e.Points, keep[i]) {
			t.Fatalf("entry %d changed after a later Next: %q, was %q", i, e.Points, keep[i])
		}
	}
	if err := o.Commit(6); err != nil {
		t.Fatal(err)
	}
	checkNext(t, o, []uint64{7, 8}, []uint64{7, 8})
	checkPending(t, o, 8)
	// The cursor file keeps the ingest index of the last delivered entry,
	// which Advance reads from the record's header alone.
	if err := o.Save(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "c", "cursor"))
	if err != nil {
		t.Fatal(err)
	}
	if cursor, delivered, err := decodeCursor(b); err != nil || cursor != 8 || delivered != 8 {
		t.Fatalf("cursor file: cursor %d, delivered %d, %v; want 8 and ingest index 8", cursor, delivered, err)
	}
	o.Close()
	if o.Pending() {
		t.Fatal("a closed outbox has entries pending")
	}
}

func TestOutboxHighWater(t *testing.T) {
	tests := []struct {
		name       string
		beforeOpen func(t *testing.T, dir string)
		cursor     uint64
		repaired   bool
	}{
		{name: "clean restart", cursor: 3},
		{name: "cursor file lost", cursor: 2, beforeOpen: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "cursor")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "cursor file damaged", cursor: 2, repaired: true, beforeOpen: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "cursor"), []byte("garbage"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "o")
			o, _ := openOutbox(t, dir)
			appendResults(t, o, 7, 8, 9)
			if err := o.Commit(3); err != nil {
				t.Fatal(err)
			}
			if n, b := o.Backlog(); n != 0 || b != 0 || o.HighWater() != 9 {
				t.Fatalf("after full delivery: backlog %d, %d; hw %d", n, b, o.HighWater())
			}
			o.Close()
			if tt.beforeOpen != nil {
				tt.beforeOpen(t, dir)
			}
			o, rep := openOutbox(t, dir)
			if o.HighWater() != 9 || o.Cursor() != tt.cursor || rep.CursorDamaged != tt.repaired {
				t.Fatalf("reopen: hw %d cursor %d repair %v", o.HighWater(), o.Cursor(), rep)
			}
			for _, i := range []uint64{9, 8, 1} {
				if err := o.Append(i, result(i), false); !errors.Is(err, ErrBelowHighWater) {
					t.Fatalf("Append(%d) = %v, want ErrBelowHighWater", i, err)
				}
			}
			appendResults(t, o, 10)
			got, _ := o.Next(0, 0)
			if last := got[len(got)-1]; last.Seq != 4 || last.IngestIndex != 10 {
				t.Fatalf("Next after restart ends with %+v", last)
			}
		})
	}
}

// TestOutboxCursorClamped simulates a crash that lost unsynced entries the
// sink had already delivered.
func TestOutboxCursorClamped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "o")
	o, _ := openOutbox(t, dir)
	appendResults(t, o, 1, 2, 3)
	o.Close()
	if err := WriteFileAtomic(filepath.Join(dir, "cursor"), encodeCursor(7, 70), 0o600); err != nil {
		t.Fatal(err)
	}
	o, rep := openOutbox(t, dir)
	if !rep.CursorClamped || rep.CursorFrom != 7 || rep.CursorTo != 3 || o.Cursor() != 3 {
		t.Fatalf("repair %+v, cursor %d", rep, o.Cursor())
	}
	if o.HighWater() != 70 {
		t.Fatalf("HighWater %d, want the delivered ingest index 70", o.HighWater())
	}
	appendResults(t, o, 71)
	checkNext(t, o, []uint64{4}, []uint64{71})
	o.Close()
	if _, rep = openOutbox(t, dir); !rep.Empty() {
		t.Fatalf("clamped cursor was not saved: %v", rep)
	}
}

func TestOutboxWait(t *testing.T) {
	o, _ := openOutbox(t, filepath.Join(t.TempDir(), "o"))
	ch := o.Wait()
	select {
	case <-ch:
		t.Fatal("Wait fired before any Append")
	default:
	}
	done := make(chan error, 1)
	go func() { done <- o.Append(1, result(1), false) }()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not fire after Append")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	next := o.Wait()
	select {
	case <-next:
		t.Fatal("a new Wait channel fired without an Append")
	default:
	}
	o.Close()
	select {
	case <-next:
	default:
		t.Fatal("Close did not wake Wait")
	}
	if _, err := o.Next(0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
}

// TestOutboxReclaim checks that delivered entries leave the disk.
func TestOutboxReclaim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "o")
	o, _ := openOutbox(t, dir)
	for i := uint64(1); i <= 200; i++ {
		appendResults(t, o, i)
		if i%10 == 0 {
			if err := o.Commit(i - 5); err != nil {
				t.Fatal(err)
			}
		}
	}
	if segs, _ := listSegments(dir); o.log.Size() > 3*512 || len(segs) > 3 {
		t.Fatalf("backlog of 5 entries holds %d bytes in %d segments", o.log.Size(), len(segs))
	}
	if err := o.Commit(200); err != nil {
		t.Fatal(err)
	}
	if o.log.FirstIndex() != 200 {
		t.Fatalf("first %d after full delivery", o.log.FirstIndex())
	}
	checkNext(t, o, nil, nil)
}

// TestOutboxOldest checks the append time of the oldest pending entry as
// entries are appended and delivered, and its bound when thinned out.
func TestOutboxOldest(t *testing.T) {
	o, _ := openOutbox(t, filepath.Join(t.TempDir(), "influx"))
	base := time.Now().Unix() + 3600 // after the opening, which counts too
	clock := time.Unix(base, 0)
	o.now = func() time.Time { return clock }
	if got := o.Oldest(); !got.IsZero() {
		t.Fatalf("Oldest of an empty outbox = %v, want zero", got)
	}
	for i := uint64(1); i <= 6; i++ { // seq i appended at base+i/2
		clock = time.Unix(base+int64(i/2), 0)
		appendResults(t, o, i)
	}
	for _, c := range []struct {
		commit uint64
		want   int64 // seconds after base; -1: none pending
	}{{0, 0}, {1, 1}, {2, 1}, {3, 2}, {5, 3}, {6, -1}} {
		if err := o.Commit(c.commit); err != nil {
			t.Fatal(err)
		}
		got := o.Oldest()
		if (c.want < 0) != got.IsZero() || (c.want >= 0 && got.Unix() != base+c.want) {
			t.Errorf("after Commit(%d): Oldest = %v, want %d", c.commit, got, c.want)
		}
	}

	var a appendTimes
	for i := range uint64(3 * maxAppendTimes) {
		a.record(10*i+1, time.Unix(int64(i), 0))
	}
	if len(a.s) > maxAppendTimes {
		t.Fatalf("%d samples kept, want at most %d", len(a.s), maxAppendTimes)
	}
	for _, seq := range []uint64{1, 5001, 20001, 30000} {
		got, exact := a.oldest(seq).Unix(), int64(seq-1)/10
		if got > exact || exact-got > 4 {
			t.Errorf("oldest(%d) = %d, want within 4 s at or before %d", seq, got, exact)
		}
		a.s = nil // oldest drops samples below seq; rebuild for the next case
		for i := range uint64(3 * maxAppendTimes) {
			a.record(10*i+1, time.Unix(int64(i), 0))
		}
	}
}
