package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// snapshotDir returns every file under dir with its content, to prove that
// a View changed nothing.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshotDir(t, dir)
	if len(after) != len(before) {
		t.Fatalf("files changed: %d before, %d after", len(before), len(after))
	}
	for path, b := range before {
		if after[path] != b {
			t.Fatalf("%s changed", path)
		}
	}
}

func openView(t *testing.T, dir string) *View {
	t.Helper()
	before := snapshotDir(t, dir)
	v, err := OpenView(dir)
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	for i := v.FirstIndex(); i <= v.LastIndex() && i > 0; i++ {
		v.Read(i, &Entry{})
	}
	checkUnchanged(t, dir, before)
	return v
}

// sameAsLog checks that every index from..to reads the same from the view
// and from the log: the same entry, or damage at the same place.
func sameAsLog(t *testing.T, v *View, l *Log, from, to uint64) {
	t.Helper()
	var ve, le Entry
	for i := from; i <= to; i++ {
		verr, lerr := v.Read(i, &ve), l.Read(i, &le)
		var vc, lc *CorruptionError
		switch {
		case verr == nil && lerr == nil:
			if !sameEntry(&ve, &le) {
				t.Fatalf("entry %d: view %+v, log %+v", i, ve, le)
			}
		case errors.As(verr, &vc) && errors.As(lerr, &lc):
			if vc.Segment != lc.Segment || vc.Offset != lc.Offset {
				t.Fatalf("entry %d: view %v, log %v", i, verr, lerr)
			}
		default:
			t.Fatalf("entry %d: view %v, log %v", i, verr, lerr)
		}
	}
}

// TestViewPredictsRepair runs every tail damage of TestRepair and checks
// that a View reports the cut Open then makes, keeps the same entries, and
// changes no file.
func TestViewPredictsRepair(t *testing.T) {
	for _, tc := range repairCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			fx := newRepairFixture(t)
			tc.damage(t, fx)
			v := openView(t, fx.dir)
			if v.FirstIndex() != 1 || v.LastIndex() != tc.last {
				t.Fatalf("view first %d last %d, want 1, %d", v.FirstIndex(), v.LastIndex(), tc.last)
			}
			l, rep := openLog(t, fx.dir, Options{Quarantine: fx.qdir})
			want := Tail{}
			if rep.TruncatedBytes > 0 {
				want = Tail{Segment: rep.Segment, Offset: rep.CutOffset, Records: rep.TruncatedRecords, Bytes: rep.TruncatedBytes}
			}
			if v.Tail != want {
				t.Fatalf("view tail %+v, Open cut %+v", v.Tail, want)
			}
			sameAsLog(t, v, l, 1, tc.last)
		})
	}
}

// TestViewSegments covers the segment-level states of TestRepairSegments
// and damage in an older segment.
func TestViewSegments(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string, segs []segFile)
		pending int
	}{
		{name: "clean"},
		{name: "empty new tail segment", damage: func(t *testing.T, dir string, segs []segFile) {
			writeFile(t, filepath.Join(dir, fmt.Sprintf("%020d", 41)), nil)
		}},
		{name: "tail segment cut to nothing", damage: func(t *testing.T, dir string, segs []segFile) {
			tail := segs[len(segs)-1]
			writeFile(t, tail.path, bytes.Repeat([]byte{0xff}, int(tail.size)))
		}},
		{name: "temp files", pending: 2, damage: func(t *testing.T, dir string, segs []segFile) {
			writeFile(t, filepath.Join(dir, fmt.Sprintf("%020d.START.TEMP", 30)), []byte("partial"))
			writeFile(t, filepath.Join(dir, ".cursor.tmp-123"), []byte("partial"))
		}},
		{name: "interrupted truncate front", pending: 1,
			damage: func(t *testing.T, dir string, segs []segFile) { startFile(t, dir, segs, 38, 0) }},
		{name: "interrupted truncate front, torn", pending: 1,
			damage: func(t *testing.T, dir string, segs []segFile) { startFile(t, dir, segs, 38, 3) }},
		{name: "bit flip in older segment", damage: func(t *testing.T, dir string, segs []segFile) {
			data, _ := os.ReadFile(segs[0].path)
			data[3] ^= 4
			writeFile(t, segs[0].path, data)
		}},
		{name: "torn older segment", damage: func(t *testing.T, dir string, segs []segFile) {
			data, _ := os.ReadFile(segs[0].path)
			writeFile(t, segs[0].path, data[:len(data)-1])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := openLog(t, dir, Options{SegmentSize: 256})
			appendRange(t, l, 1, 40)
			l.Close()
			segs, _ := listSegments(dir)
			if tt.damage != nil {
				tt.damage(t, dir, segs)
			}
			v := openView(t, dir)
			if len(v.Pending) != tt.pending {
				t.Fatalf("pending %v, want %d", v.Pending, tt.pending)
			}
			l, _ = openLog(t, dir, Options{SegmentSize: 256, Quarantine: t.TempDir()})
			if v.FirstIndex() != l.FirstIndex() || v.LastIndex() != l.LastIndex() {
				t.Fatalf("view %d..%d, log %d..%d", v.FirstIndex(), v.LastIndex(), l.FirstIndex(), l.LastIndex())
			}
			sameAsLog(t, v, l, l.FirstIndex(), l.LastIndex())
		})
	}
}

func TestViewEmptyAndMissing(t *testing.T) {
	if _, err := OpenView(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	dir := t.TempDir()
	l, _ := openLog(t, dir, Options{})
	l.Close()
	v := openView(t, dir)
	if v.FirstIndex() != 0 || v.LastIndex() != 0 || v.Read(1, &Entry{}) != ErrNotFound {
		t.Fatalf("empty log view %d..%d", v.FirstIndex(), v.LastIndex())
	}
}

// TestOutboxView checks that the view reports the cursor, high water and
// backlog OpenOutbox then restores.
func TestOutboxView(t *testing.T) {
	tests := []struct {
		name    string
		commit  uint64
		damage  func(t *testing.T, dir string)
		damaged bool
	}{
		{name: "nothing delivered"},
		{name: "some delivered", commit: 2},
		{name: "all delivered", commit: 4},
		{name: "damaged cursor", commit: 2, damaged: true, damage: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "cursor"), []byte("RVOC junk"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o, _ := openOutbox(t, dir)
			appendResults(t, o, 3, 5, 9, 12)
			if tt.commit > 0 {
				if err := o.Commit(tt.commit); err != nil {
					t.Fatal(err)
				}
			}
			o.Close()
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			before := snapshotDir(t, dir)
			v, err := OpenOutboxView(dir)
			if err != nil {
				t.Fatal(err)
			}
			high := v.HighWater()
			n, size := v.Backlog()
			checkUnchanged(t, dir, before)
			if (v.CursorErr != nil) != tt.damaged {
				t.Fatalf("CursorErr %v", v.CursorErr)
			}
			if n > 0 && size != diskSize(t, dir) {
				t.Fatalf("backlog bytes %d, segments hold %d", size, diskSize(t, dir))
			}
			// OpenOutbox may reclaim delivered entries, so only the counts
			// are compared after it.
			o, _ = openOutbox(t, dir)
			if on, _ := o.Backlog(); v.Cursor != o.Cursor() || high != o.HighWater() || n != on {
				t.Fatalf("view cursor %d high %d backlog %d; outbox %d %d %d",
					v.Cursor, high, n, o.Cursor(), o.HighWater(), on)
			}
		})
	}
}

func TestListCheckpoints(t *testing.T) {
	dir := t.TempDir()
	c := openCheckpoints(t, dir, "")
	for _, i := range []uint64{10, 20} {
		if err := c.Save(i, state(i)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("ckpt-%020d", 20))
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	writeFile(t, path, b)
	before := snapshotDir(t, dir)
	files, err := ListCheckpoints(dir)
	checkUnchanged(t, dir, before)
	if err != nil || len(files) != 2 {
		t.Fatalf("ListCheckpoints = %+v, %v", files, err)
	}
	if files[0].Index != 10 || files[0].Err != nil || files[0].Size == 0 || files[0].ModTime.IsZero() {
		t.Fatalf("first %+v", files[0])
	}
	if files[1].Index != 20 || !errors.Is(files[1].Err, ErrChecksum) {
		t.Fatalf("second %+v", files[1])
	}
	if st, err := ReadCheckpoint(dir, 10); err != nil || !bytes.Equal(st, state(10)) {
		t.Fatalf("ReadCheckpoint = %q, %v", st, err)
	}
}
