package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// outboxIngest is the ingest index of the result at outbox seq i in the
// outbox repair fixture.
func outboxIngest(seq uint64) uint64 { return 100 + seq }

// newOutboxRepairFixture is a closed outbox of repairN results in one
// segment, nothing delivered (no cursor file).
func newOutboxRepairFixture(t *testing.T) repairFixture {
	t.Helper()
	root := t.TempDir()
	fx := repairFixture{dir: filepath.Join(root, "sink"), qdir: filepath.Join(root, "q")}
	o, _, err := OpenOutbox(fx.dir, Options{Quarantine: fx.qdir})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= repairN; i++ {
		if err := o.Append(outboxIngest(i), result(i), i == repairN); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(fx.dir)
	fx.seg = segs[0].path
	data := fx.read(t)
	for off := 0; off < len(data); {
		fx.frames = append(fx.frames, off)
		_, next, ok := nextFrame(data, off)
		if !ok {
			t.Fatal("fixture segment does not parse")
		}
		off = next
	}
	fx.frames = append(fx.frames, len(data))
	return fx
}

// TestOutboxRepair runs the damage matrix of TestRepair (torn at every
// offset of the last two records, zeroed and garbage tails, bit flips in the
// last and in middle records) against an outbox. OpenOutbox must succeed
// every time, report exactly what TestRepair expects, and Next must deliver
// every undamaged result once, in order, skipping only the damaged ones;
// the high-water mark must be the newest result kept, so the engine
// re-appends exactly what was cut.
func TestOutboxRepair(t *testing.T) {
	for _, tc := range repairCasesFor(newOutboxRepairFixture(t)) {
		t.Run(tc.name, func(t *testing.T) {
			fx := newOutboxRepairFixture(t)
			tc.damage(t, fx)
			var damaged []byte
			if tc.corrupt != 0 {
				damaged = fx.record(t, int(tc.corrupt))
			}
			o, rep, err := OpenOutbox(fx.dir, Options{Quarantine: fx.qdir})
			if err != nil {
				t.Fatalf("OpenOutbox: %v", err)
			}
			defer o.Close()
			checkRepair(t, fx, tc, rep)
			checkOutboxAfterRepair(t, o, tc.last, tc.corrupt)
			if tc.corrupt != 0 {
				got, err := os.ReadFile(filepath.Join(fx.qdir, fmt.Sprintf("sink-%020d.record", tc.corrupt)))
				if err != nil || !bytes.Equal(got, damaged) {
					t.Fatalf("quarantined copy %x, %v; want %x", got, err, damaged)
				}
			}
			if err := o.Append(outboxIngest(tc.last+1), result(tc.last+1), true); err != nil {
				t.Fatalf("Append after repair: %v", err)
			}
			o.Close()
			o, rep, err = OpenOutbox(fx.dir, Options{Quarantine: fx.qdir})
			if err != nil || !rep.Empty() {
				t.Fatalf("second OpenOutbox: %v, repaired again: %v", err, rep)
			}
			defer o.Close()
			checkOutboxAfterRepair(t, o, tc.last+1, tc.corrupt)
			checkPending(t, o, tc.last+1)
		})
	}
}

// checkPending moves the cursor from 0 to last, one entry at a time, and
// checks at each step that Pending says what Next does: whether an entry
// waits, with damaged ones skipped.
func checkPending(t *testing.T, o *Outbox, last uint64) {
	t.Helper()
	for c := uint64(0); c <= last; c++ {
		if c > 0 {
			if err := o.Advance(c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := o.Next(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p := o.Pending(); p != (len(got) > 0) {
			t.Fatalf("cursor %d: Pending %v, Next returned %d entries", c, p, len(got))
		}
	}
}

// checkOutboxAfterRepair checks that Next returns seqs 1..last but skip,
// each with its own ingest index and points, and the high-water mark.
func checkOutboxAfterRepair(t *testing.T, o *Outbox, last, skip uint64) {
	t.Helper()
	got, err := o.Next(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for i := uint64(1); i <= last; i++ {
		if i != skip {
			want = append(want, i)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Next returned %d entries, want %d (%v)", len(got), len(want), want)
	}
	for i, e := range got {
		if e.Seq != want[i] || e.IngestIndex != outboxIngest(want[i]) || !bytes.Equal(e.Points, result(want[i])) {
			t.Fatalf("entry %d = {%d %d %q}, want seq %d", i, e.Seq, e.IngestIndex, e.Points, want[i])
		}
	}
	if hw := o.HighWater(); hw != outboxIngest(last) {
		t.Fatalf("HighWater %d, want %d", hw, outboxIngest(last))
	}
}

// TestOutboxCursorDamage cuts the cursor file to every length and flips
// every one of its bytes. Each time OpenOutbox must report the damage,
// quarantine the file, restart delivery at the first entry still in the
// outbox (a repeat, never a loss), keep the high-water mark, and write a
// good cursor so that the next open repairs nothing.
func TestOutboxCursorDamage(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	o, _, err := OpenOutbox(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 6; i++ {
		if err := o.Append(outboxIngest(i), result(i), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Commit(3); err != nil {
		t.Fatal(err)
	}
	o.Close()
	snap := takeSnap(t, src)
	good := snap["cursor"]
	if len(good) != cursorLen {
		t.Fatalf("cursor file has %d bytes", len(good))
	}
	var damaged [][]byte
	for n := range len(good) {
		damaged = append(damaged, good[:n])
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(good)
			b[n] ^= bit
			damaged = append(damaged, b)
		}
	}
	for i, b := range damaged {
		dir := snap.with("cursor", b).restore(t)
		qdir := filepath.Join(filepath.Dir(dir), "q")
		o, rep, err := OpenOutbox(dir, Options{Quarantine: qdir})
		if err != nil {
			t.Fatalf("damage %d: OpenOutbox: %v", i, err)
		}
		if !rep.CursorDamaged || o.Cursor() != 0 || o.HighWater() != outboxIngest(6) {
			t.Fatalf("damage %d (%x): %v, cursor %d, high water %d", i, b, rep, o.Cursor(), o.HighWater())
		}
		if got, err := o.Next(0, 0); err != nil || len(got) != 6 {
			t.Fatalf("damage %d: Next = %d entries, %v; want all 6 again", i, len(got), err)
		}
		if q, err := os.ReadFile(filepath.Join(qdir, "d-cursor")); err != nil || !bytes.Equal(q, b) {
			t.Fatalf("damage %d: quarantined cursor %x, %v; want %x", i, q, err, b)
		}
		o.Close()
		o, rep, err = OpenOutbox(dir, Options{Quarantine: qdir})
		if err != nil || !rep.Empty() {
			t.Fatalf("damage %d: second open %v, repaired again: %v", i, err, rep)
		}
		o.Close()
	}
	t.Logf("%d damaged cursor files", len(damaged))
}

// TestRepairEveryBitFlip flips one bit (two patterns) at every byte of the
// last two frames of a closed log, length prefixes included. Every flip
// must be detected and accounted for: Open succeeds, the records before
// them are intact, and each of the last two entries is either intact, read
// as *CorruptionError (counted in Quarantined), or gone with a cut that
// TruncatedRecords counts (a remainder whose framing is broken counts once
// however many records it held).
func TestRepairEveryBitFlip(t *testing.T) {
	fx0 := newRepairFixture(t)
	cases := 0
	for off := fx0.frames[repairN-2]; off < fx0.frames[repairN]; off++ {
		for _, bit := range []byte{0x01, 0x80} {
			fx := newRepairFixture(t)
			b := fx.read(t)
			b[off] ^= bit
			fx.write(t, b)
			l, rep := openLog(t, fx.dir, Options{Quarantine: fx.qdir})
			name := fmt.Sprintf("byte %d bit %#x", off, bit)
			if l.LastIndex() < repairN-2 || l.LastIndex() > repairN {
				t.Fatalf("%s: last %d (%v)", name, l.LastIndex(), rep)
			}
			checkRange(t, l, 1, repairN-2)
			var e Entry
			bad := 0
			for i := uint64(repairN - 1); i <= l.LastIndex(); i++ {
				var ce *CorruptionError
				if err := l.Read(i, &e); errors.As(err, &ce) {
					bad++
				} else if err != nil || !sameEntry(&e, testEntry(i)) {
					t.Fatalf("%s: Read(%d) = %v, neither intact nor reported", name, i, err)
				}
			}
			lost := repairN - int(l.LastIndex())
			switch {
			case bad != rep.Quarantined:
				t.Fatalf("%s: %d damaged entries kept, %d reported", name, bad, rep.Quarantined)
			case bad+lost == 0:
				t.Fatalf("%s: the flip went unnoticed (%v)", name, rep)
			case lost > 0 && (rep.TruncatedRecords < 1 || rep.TruncatedRecords > lost):
				t.Fatalf("%s: %d entries cut, %d reported", name, lost, rep.TruncatedRecords)
			case lost == 0 && rep.TruncatedBytes != 0:
				t.Fatalf("%s: bytes cut but no entry lost (%v)", name, rep)
			}
			l.Close()
			cases++
		}
	}
	t.Logf("%d bit flips", cases)
}
