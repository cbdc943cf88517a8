package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// savedCursor reads the cursor file of the outbox in dir; 0 when there is
// none.
func savedCursor(t *testing.T, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cursor"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := decodeCursor(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOutboxAdvanceSave checks the two positions of the cursor: Advance
// moves the one Next reads after, only Save writes the file, Rewind goes
// back to the file's, and a reopened outbox resumes after the file's.
func TestOutboxAdvanceSave(t *testing.T) {
	tests := []struct {
		name      string
		ops       []string // "advance N", "save", "rewind"
		wantMem   uint64   // Cursor after the ops
		wantFile  uint64   // the cursor file after the ops
		wantAfter uint64   // Cursor after a reopen (a crash, no Save)
	}{
		{"nothing", nil, 0, 0, 0},
		{"advance only", []string{"advance 3"}, 3, 0, 0},
		{"advance, save", []string{"advance 3", "save"}, 3, 3, 3},
		{"save, advance further", []string{"advance 2", "save", "advance 5"}, 5, 2, 2},
		{"rewind to the save", []string{"advance 2", "save", "advance 4", "rewind"}, 2, 2, 2},
		{"rewind without a save", []string{"advance 4", "rewind"}, 0, 0, 0},
		{"save twice", []string{"advance 1", "save", "save", "advance 5", "save"}, 5, 5, 5},
		{"advance backwards is a no-op", []string{"advance 4", "advance 2", "save"}, 4, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "o")
			o, _ := openOutbox(t, dir)
			appendResults(t, o, 1, 2, 3, 4, 5)
			for _, op := range tt.ops {
				var err error
				var n uint64
				switch {
				case op == "save":
					err = o.Save()
				case op == "rewind":
					o.Rewind()
				default:
					if _, serr := fmt.Sscanf(op, "advance %d", &n); serr != nil {
						t.Fatalf("bad op %q", op)
					}
					err = o.Advance(n)
				}
				if err != nil {
					t.Fatalf("%s: %v", op, err)
				}
			}
			if got := o.Cursor(); got != tt.wantMem {
				t.Errorf("Cursor = %d, want %d", got, tt.wantMem)
			}
			if got := savedCursor(t, dir); got != tt.wantFile {
				t.Errorf("cursor file = %d, want %d", got, tt.wantFile)
			}
			var want []uint64
			for s := tt.wantMem + 1; s <= 5; s++ {
				want = append(want, s)
			}
			checkNext(t, o, want, want) // ingest index i has seq i here
			o.Close()
			o2, _ := openOutbox(t, dir)
			if got := o2.Cursor(); got != tt.wantAfter {
				t.Errorf("Cursor after reopen = %d, want %d", got, tt.wantAfter)
			}
		})
	}
}

// TestOutboxReclaimPaced checks that a Save after everything is delivered
// reclaims at most once per reclaimIdleEvery, and never past the saved
// cursor.
func TestOutboxReclaimPaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "o")
	o, _ := openOutbox(t, dir)
	clock := time.Unix(1_700_000_000, 0)
	o.now = func() time.Time { return clock }
	var seq uint64
	deliverOne := func() {
		seq++
		appendResults(t, o, seq)
		if err := o.Commit(seq); err != nil {
			t.Fatal(err)
		}
	}
	deliverOne()
	deliverOne() // reclaims: the first time
	if first := o.log.FirstIndex(); first != 2 {
		t.Fatalf("first index %d after the first full delivery, want 2", first)
	}
	for range 3 {
		clock = clock.Add(time.Second)
		deliverOne()
	}
	if first := o.log.FirstIndex(); first != 2 {
		t.Fatalf("first index %d: reclaimed again within %s", first, reclaimIdleEvery)
	}
	clock = clock.Add(reclaimIdleEvery)
	deliverOne()
	if first := o.log.FirstIndex(); first != seq {
		t.Fatalf("first index %d after %s, want %d", first, reclaimIdleEvery, seq)
	}

	// A budget's compaction saves the cursor first, unless the sink could
	// not sync: then it reclaims only up to the saved cursor.
	for range 3 {
		seq++
		appendResults(t, o, seq)
	}
	if err := o.Advance(seq - 1); err != nil {
		t.Fatal(err)
	}
	saved := savedCursor(t, dir)
	o.SetSyncer(func() error { return errors.New("sync failed") })
	if err := o.compact(); err != nil {
		t.Fatal(err)
	}
	if got := savedCursor(t, dir); got != saved || o.log.FirstIndex() > saved+1 {
		t.Fatalf("sync failed, yet cursor file %d (was %d), first index %d", got, saved, o.log.FirstIndex())
	}
	syncs := 0
	o.SetSyncer(func() error { syncs++; return nil })
	if err := o.compact(); err != nil {
		t.Fatal(err)
	}
	if got := savedCursor(t, dir); got != seq-1 || o.log.FirstIndex() != seq || syncs != 1 {
		t.Fatalf("cursor file %d, first index %d, %d syncs; want %d, %d, 1", got, o.log.FirstIndex(), syncs, seq-1, seq)
	}
}
