package wal

import (
	"bytes"
	"errors"
	"fmt"
	tidwall "github.com/tidwall/wal"
	"os"
	"path/filepath"
	"testing"
)

const repairN = 8

// repairFixture is a closed log of repairN entries in one segment.
type repairFixture struct {
	dir, qdir, seg string
	frames         []int // frame starts, then the end of the file
	compress       bool  // records written compressed (Options.Compress)
}

func newRepairFixture(t *testing.T) repairFixture { return newRepairFixtureFor(t, false) }

func newRepairFixtureFor(t *testing.T, compress bool) repairFixture {
	t.Helper()
	root := t.TempDir()
	fx := repairFixture{dir: filepath.Join(root, "log"), qdir: filepath.Join(root, "q"), compress: compress}
	l, _ := openLog(t, fx.dir, fx.opts())
	appendRange(t, l, 1, repairN)
	if err := l.Close(); err != nil {
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

func (fx repairFixture) opts() Options { return Options{Quarantine: fx.qdir, Compress: fx.compress} }

func (fx repairFixture) read(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(fx.seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (fx repairFixture) write(t *testing.T, b []byte) {
	t.Helper()
	if err := os.WriteFile(fx.seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// record returns the bytes of record i (1-based) without its length prefix.
func (fx repairFixture) record(t *testing.T, i int) []byte {
	rec, _, _ := nextFrame(fx.read(t), fx.frames[i-1])
	return rec
}

// flip flips one bit at byte off of record i (off 0 is its version byte).
func (fx repairFixture) flip(t *testing.T, i, off int, bit byte) {
	b := fx.read(t)
	b[fx.frames[i-1]+1+off] ^= bit
	fx.write(t, b)
}

type repairCase struct {
	name        string
	damage      func(t *testing.T, fx repairFixture)
	last        uint64 // LastIndex after repair
	records     int    // Repair.TruncatedRecords
	bytes       func(fx repairFixture) int64
	tailCopy    bool
	corrupt     uint64 // index that must read as *CorruptionError
	corruptWhat error
}

func repairCases(t *testing.T) []repairCase {
	return repairCasesFor(newRepairFixture(t)) // only to learn the frame offsets
}

// repairCasesFor builds the damage cases for the frame offsets of fx, a
// closed log or outbox of repairN records in one segment.
func repairCasesFor(fx repairFixture) []repairCase {
	last, prev := fx.frames[repairN-1], fx.frames[repairN-2]
	frameBytes := func(i int) func(repairFixture) int64 {
		return func(fx repairFixture) int64 { return int64(fx.frames[repairN] - fx.frames[i-1]) }
	}
	var cases []repairCase
	for off := prev; off < fx.frames[repairN]; off++ {
		c := repairCase{name: fmt.Sprintf("torn at %d", off), last: repairN - 1, tailCopy: true, records: 1}
		c.damage = func(t *testing.T, fx repairFixture) { fx.write(t, fx.read(t)[:off]) }
		start := last
		if off < last {
			c.last, start = repairN-2, prev
		}
		if off == start {
			c.records, c.tailCopy = 0, false
		}
		c.bytes = func(repairFixture) int64 { return int64(off - start) }
		cases = append(cases, c)
	}
	return append(cases, []repairCase{
		{name: "zeros appended", last: repairN, bytes: func(repairFixture) int64 { return 4096 },
			damage: func(t *testing.T, fx repairFixture) { fx.write(t, append(fx.read(t), make([]byte, 4096)...)) }},
		{name: "last record zeroed", last: repairN - 1, bytes: frameBytes(repairN),
			damage: func(t *testing.T, fx repairFixture) {
				b := fx.read(t)
				clear(b[fx.frames[repairN-1]:])
				fx.write(t, b)
			}},
		{name: "garbage tail", last: repairN, records: 1, tailCopy: true, bytes: func(repairFixture) int64 { return 37 },
			damage: func(t *testing.T, fx repairFixture) {
				fx.write(t, append(fx.read(t), bytes.Repeat([]byte{0xff}, 37)...))
			}},
		{name: "garbage record then garbage", last: repairN, records: 2, tailCopy: true, bytes: func(repairFixture) int64 { return 21 + 5 },
			damage: func(t *testing.T, fx repairFixture) {
				junk := append([]byte{20, formatV1}, bytes.Repeat([]byte{7}, 19)...)
				fx.write(t, append(append(fx.read(t), junk...), 1, 2, 3, 4, 5))
			}},
		{name: "flipped payload bit in last record", last: repairN - 1, records: 1, tailCopy: true, bytes: frameBytes(repairN),
			damage: func(t *testing.T, fx repairFixture) { fx.flip(t, repairN, 5, 0x10) }},
		{name: "flipped version bit in last record", last: repairN - 1, records: 1, tailCopy: true, bytes: frameBytes(repairN),
			damage: func(t *testing.T, fx repairFixture) { fx.flip(t, repairN, 0, 0x02) }},
		{name: "length of next-to-last record past the end", last: repairN - 2, records: 1, tailCopy: true, bytes: frameBytes(repairN - 1),
			damage: func(t *testing.T, fx repairFixture) {
				b := fx.read(t)
				b[fx.frames[repairN-2]], b[fx.frames[repairN-2]+1] = 0xff, 0x7f // 16383 bytes
				fx.write(t, b)
			}},
		{name: "flipped bit in middle record", last: repairN, bytes: func(repairFixture) int64 { return 0 },
			corrupt: 4, corruptWhat: ErrChecksum,
			damage: func(t *testing.T, fx repairFixture) { fx.flip(t, 4, 12, 0x01) }},
		{name: "flipped version bit in middle record", last: repairN, bytes: func(repairFixture) int64 { return 0 },
			corrupt: 3, corruptWhat: ErrVersion,
			damage: func(t *testing.T, fx repairFixture) { fx.flip(t, 3, 0, 0x80) }},
	}...)
}

// TestRepair damages the tail segment of a closed log in many ways and
// checks that Open cuts exactly the damage, keeps every good record, and
// quarantines the damaged ones.
func TestRepair(t *testing.T) {
	for _, compress := range []bool{false, true} {
		for _, tc := range repairCasesFor(newRepairFixtureFor(t, compress)) {
			t.Run(fmt.Sprintf("compress=%v/%s", compress, tc.name), func(t *testing.T) {
				fx := newRepairFixtureFor(t, compress)
				if compress && fx.read(t)[fx.frames[0]+1] != formatV2 {
					t.Fatal("the fixture's records are not compressed")
				}
				var damaged []byte
				if tc.corrupt != 0 {
					damaged = fx.record(t, int(tc.corrupt))
				}
				tc.damage(t, fx)
				if tc.corrupt != 0 {
					damaged = fx.record(t, int(tc.corrupt))
				}
				l, rep := openLog(t, fx.dir, fx.opts())
				checkRepair(t, fx, tc, rep)
				checkRepaired(t, fx, tc, l, damaged)
				l.Close()
				l, rep = openLog(t, fx.dir, fx.opts())
				if !rep.Empty() {
					t.Fatalf("second Open repaired again: %v", rep)
				}
				checkRange(t, l, 1, tc.last+1, tc.corrupt)
			})
		}
	}
}

func checkRepair(t *testing.T, fx repairFixture, tc repairCase, rep Repair) {
	t.Helper()
	wantBytes := tc.bytes(fx)
	if rep.TruncatedRecords != tc.records || rep.TruncatedBytes != wantBytes {
		t.Fatalf("repair cut %d records, %d bytes; want %d, %d (%v)", rep.TruncatedRecords, rep.TruncatedBytes, tc.records, wantBytes, rep)
	}
	if (rep.TailCopy != "") != tc.tailCopy {
		t.Fatalf("tail copy %q, want one: %v", rep.TailCopy, tc.tailCopy)
	}
	if wantQ := min(tc.corrupt, 1); rep.Quarantined != int(wantQ) {
		t.Fatalf("Quarantined %d, want %d", rep.Quarantined, wantQ)
	}
	if wantBytes > 0 && (rep.Segment != fx.seg || rep.CutOffset != int64(fx.frames[tc.last])) {
		t.Fatalf("cut %s at %d, want %s at %d", rep.Segment, rep.CutOffset, fx.seg, fx.frames[tc.last])
	}
	if rep.Empty() != (wantBytes == 0 && tc.corrupt == 0) || rep.String() == "" {
		t.Fatalf("Empty() = %v for %v", rep.Empty(), rep)
	}
}

func checkRepaired(t *testing.T, fx repairFixture, tc repairCase, l *Log, damaged []byte) {
	t.Helper()
	if l.FirstIndex() != 1 || l.LastIndex() != tc.last {
		t.Fatalf("first %d last %d, want 1, %d", l.FirstIndex(), l.LastIndex(), tc.last)
	}
	checkRange(t, l, 1, tc.last, tc.corrupt)
	if tc.corrupt != 0 {
		checkCorrupt(t, fx, l, tc.corrupt, tc.corruptWhat, damaged)
	}
	first, last, err := l.Append(testEntry(tc.last + 1))
	if err != nil || first != tc.last+1 || last != tc.last+1 {
		t.Fatalf("Append after repair = %d, %d, %v; want %d", first, last, err, tc.last+1)
	}
	checkRange(t, l, tc.last+1, tc.last+1)
}

func checkCorrupt(t *testing.T, fx repairFixture, l *Log, index uint64, what error, damaged []byte) {
	t.Helper()
	var e Entry
	for range 2 {
		err := l.Read(index, &e)
		var ce *CorruptionError
		if !errors.As(err, &ce) || !errors.Is(err, what) {
			t.Fatalf("Read(%d) = %v, want *CorruptionError wrapping %v", index, err, what)
		}
		if ce.Index != index || ce.Segment != fx.seg || ce.Offset != int64(fx.frames[index-1]) {
			t.Fatalf("CorruptionError %+v, want segment %s offset %d", ce, fx.seg, fx.frames[index-1])
		}
	}
	if l.Quarantined() != 1 {
		t.Fatalf("Quarantined() = %d, want 1", l.Quarantined())
	}
	got, err := os.ReadFile(filepath.Join(fx.qdir, fmt.Sprintf("log-%020d.record", index)))
	if err != nil || !bytes.Equal(got, damaged) {
		t.Fatalf("quarantined copy %x, %v; want %x", got, err, damaged)
	}
}

// TestRepairSegments covers damage that involves segment files: an empty
// tail from a crash right after a new segment was created, a tail cut to
// nothing, leftovers of tidwall's atomic writes, and an interrupted
// TruncateFront.
func TestRepairSegments(t *testing.T) {
	tests := []struct {
		name        string
		damage      func(t *testing.T, dir string, segs []segFile)
		first, last uint64 // after repair
		temps       int
		cut         bool
	}{
		{name: "empty new tail segment", first: 1, last: 40,
			damage: func(t *testing.T, dir string, segs []segFile) {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("%020d", 41)), nil)
			}},
		{name: "tail segment cut to nothing", first: 1, cut: true,
			damage: func(t *testing.T, dir string, segs []segFile) {
				tail := segs[len(segs)-1]
				writeFile(t, tail.path, bytes.Repeat([]byte{0xff}, int(tail.size)))
			}},
		{name: "tidwall temp files", first: 1, last: 40, temps: 3,
			damage: func(t *testing.T, dir string, segs []segFile) {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("%020d.START.TEMP", 30)), []byte("partial"))
				writeFile(t, filepath.Join(dir, fmt.Sprintf("%020d.END.TEMP", 30)), []byte("partial"))
				writeFile(t, filepath.Join(dir, ".cursor.tmp-123"), []byte("partial"))
			}},
		{name: "interrupted truncate front", first: 38, last: 40,
			damage: func(t *testing.T, dir string, segs []segFile) { startFile(t, dir, segs, 38, 0) }},
		{name: "interrupted truncate front, torn", first: 38, last: 39, cut: true,
			damage: func(t *testing.T, dir string, segs []segFile) { startFile(t, dir, segs, 38, 3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := openLog(t, dir, Options{SegmentSize: 256})
			appendRange(t, l, 1, 40)
			l.Close()
			segs, _ := listSegments(dir)
			tt.damage(t, dir, segs)
			last := tt.last
			if last == 0 {
				last = segs[len(segs)-1].index - 1
			}
			l, rep := openLog(t, dir, Options{SegmentSize: 256})
			if rep.RemovedTemps != tt.temps || (rep.TruncatedBytes > 0) != tt.cut {
				t.Fatalf("repair %+v", rep)
			}
			if l.FirstIndex() != tt.first || l.LastIndex() != last || l.Size() != diskSize(t, dir) {
				t.Fatalf("first %d last %d size %d; want %d, %d, %d", l.FirstIndex(), l.LastIndex(), l.Size(), tt.first, last, diskSize(t, dir))
			}
			checkRange(t, l, tt.first, last)
			appendRange(t, l, last+1, last+5)
			l.Close()
			l, rep = openLog(t, dir, Options{SegmentSize: 256})
			if !rep.Empty() {
				t.Fatalf("second Open repaired again: %v", rep)
			}
			checkRange(t, l, tt.first, last+5)
		})
	}
}

// startFile leaves what a crash inside tidwall's TruncateFront(index) leaves:
// a START copy of the tail segment from index on (minus cut bytes).
func startFile(t *testing.T, dir string, segs []segFile, index uint64, cut int) {
	t.Helper()
	tail := segs[len(segs)-1]
	data, _ := os.ReadFile(tail.path)
	off := 0
	for i := tail.index; i < index; i++ {
		_, off, _ = nextFrame(data, off)
	}
	writeFile(t, filepath.Join(dir, fmt.Sprintf("%020d.START", index)), data[off:len(data)-cut])
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRepairEmptiesOnlySegment checks that indexes never go back when the
// repair leaves a front-truncated log with no entry.
func TestRepairEmptiesOnlySegment(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Options{})
	appendRange(t, l, 1, 10)
	if err := l.TruncateFront(10); err != nil {
		t.Fatal(err)
	}
	l.Close()
	segs, _ := listSegments(dir)
	if len(segs) != 1 || segs[0].index != 10 {
		t.Fatalf("segments %+v", segs)
	}
	writeFile(t, segs[0].path, []byte{0x7f, 1, 2})
	l, rep := openLog(t, dir, Options{})
	if rep.TruncatedRecords != 1 || rep.TruncatedBytes != 3 {
		t.Fatalf("repair %+v", rep)
	}
	if l.FirstIndex() != 10 || l.LastIndex() != 9 {
		t.Fatalf("first %d last %d, want 10, 9", l.FirstIndex(), l.LastIndex())
	}
	var e Entry
	if err := l.Read(9, &e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(9) = %v", err)
	}
	appendRange(t, l, 10, 11)
	checkRange(t, l, 10, 11)
}

// TestReadDamagedOlderSegment checks damage Open does not scan for: a bit
// flip in an older segment, and an older segment whose framing is broken.
func TestReadDamagedOlderSegment(t *testing.T) {
	tests := []struct {
		name   string
		damage func(data []byte) []byte
		bad    []uint64 // indexes of the first segment that must read as damaged
		what   error
		copy   string // quarantine file name, %020d of the segment index
	}{
		{name: "bit flip", damage: func(b []byte) []byte { b[3] ^= 4; return b },
			bad: []uint64{1}, what: ErrChecksum, copy: "s-%020d.record"},
		{name: "torn older segment", damage: func(b []byte) []byte { return b[:len(b)-1] },
			bad: []uint64{1, 2}, what: tidwallErrCorrupt, copy: "s-%020d.segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir, qdir := filepath.Join(root, "s"), filepath.Join(root, "q")
			l, _ := openLog(t, dir, Options{SegmentSize: 256, Quarantine: qdir})
			appendRange(t, l, 1, 40)
			l.Close()
			segs, _ := listSegments(dir)
			data, _ := os.ReadFile(segs[0].path)
			writeFile(t, segs[0].path, tt.damage(data))
			l, rep := openLog(t, dir, Options{SegmentSize: 256, Quarantine: qdir})
			if !rep.Empty() {
				t.Fatalf("Open repaired an older segment: %v", rep)
			}
			var e Entry
			for _, i := range tt.bad {
				var ce *CorruptionError
				if err := l.Read(i, &e); !errors.As(err, &ce) || !errors.Is(err, tt.what) || ce.Segment != segs[0].path {
					t.Fatalf("Read(%d) = %v, want *CorruptionError in %s wrapping %v", i, err, segs[0].path, tt.what)
				}
			}
			checkRange(t, l, segs[1].index, 40)
			if _, err := os.Stat(filepath.Join(qdir, fmt.Sprintf(tt.copy, tt.bad[0]))); err != nil {
				t.Fatalf("no quarantine copy: %v", err)
			}
			if l.Quarantined() != len(tt.bad) {
				t.Fatalf("Quarantined() = %d", l.Quarantined())
			}
		})
	}
}

var tidwallErrCorrupt = tidwall.ErrCorrupt
