package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for i, perm := range []os.FileMode{0o600, 0o640} {
		want := fmt.Appendf(nil, "content %d", i)
		if err := WriteFileAtomic(path, want, perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if err != nil || string(got) != string(want) || fi.Mode().Perm() != perm {
			t.Fatalf("file %q %v mode %v; want %q %v", got, err, fi.Mode(), want, perm)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Fatal("WriteFileAtomic into a missing directory succeeded")
	}
}

func openCheckpoints(t *testing.T, dir, qdir string) *Checkpoints {
	t.Helper()
	c, err := OpenCheckpoints(dir, qdir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func state(i uint64) []byte { return fmt.Appendf(nil, "state after %d", i) }

func checkLatest(t *testing.T, c *Checkpoints, want, floor uint64) {
	t.Helper()
	idx, st, err := c.Latest()
	if want == 0 {
		if !errors.Is(err, ErrNoCheckpoint) {
			t.Fatalf("Latest = %d, %v; want ErrNoCheckpoint", idx, err)
		}
	} else if err != nil || idx != want || string(st) != string(state(want)) {
		t.Fatalf("Latest = %d, %q, %v; want %d", idx, st, err, want)
	}
	if c.Floor() != floor {
		t.Fatalf("Floor = %d, want %d", c.Floor(), floor)
	}
}

func ckptFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestCheckpointsKeepTwo(t *testing.T) {
	dir := t.TempDir()
	c := openCheckpoints(t, dir, "")
	checkLatest(t, c, 0, 0)
	for _, s := range []struct{ index, floor uint64 }{{10, 10}, {20, 10}, {30, 20}, {30, 20}, {45, 30}} {
		if err := c.Save(s.index, state(s.index)); err != nil {
			t.Fatal(err)
		}
		checkLatest(t, c, s.index, s.floor)
	}
	want := []string{fmt.Sprintf("ckpt-%020d", 30), fmt.Sprintf("ckpt-%020d", 45)}
	if got := ckptFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if err := c.Save(44, state(44)); err == nil {
		t.Fatal("Save below the newest succeeded")
	}
	writeFile(t, filepath.Join(dir, ".ckpt-00000000000000000050.tmp-99"), []byte("partial"))
	c = openCheckpoints(t, dir, "")
	checkLatest(t, c, 45, 30)
	if got := ckptFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after reopen files %v, want %v", got, want)
	}
}

func TestCheckpointsDamaged(t *testing.T) {
	flip := func(b []byte) []byte { b[len(b)/2] ^= 1; return b }
	tests := []struct {
		name         string
		damage       map[uint64]func([]byte) []byte
		want, floor  uint64
		quarantined  []uint64
		saveThenKeep []uint64 // after Save(30): retained checkpoints
	}{
		{name: "newest flipped", damage: map[uint64]func([]byte) []byte{20: flip},
			want: 10, floor: 10, quarantined: []uint64{20}, saveThenKeep: []uint64{10, 30}},
		{name: "newest torn", damage: map[uint64]func([]byte) []byte{20: func(b []byte) []byte { return b[:len(b)-2] }},
			want: 10, floor: 10, quarantined: []uint64{20}, saveThenKeep: []uint64{10, 30}},
		{name: "newest empty", damage: map[uint64]func([]byte) []byte{20: func([]byte) []byte { return nil }},
			want: 10, floor: 10, quarantined: []uint64{20}, saveThenKeep: []uint64{10, 30}},
		{name: "older flipped", damage: map[uint64]func([]byte) []byte{10: flip},
			want: 20, floor: 10, saveThenKeep: []uint64{20, 30}},
		{name: "both flipped", damage: map[uint64]func([]byte) []byte{10: flip, 20: flip},
			want: 0, floor: 0, quarantined: []uint64{10, 20}, saveThenKeep: []uint64{30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir, qdir := filepath.Join(root, "ckpt"), filepath.Join(root, "q")
			c := openCheckpoints(t, dir, qdir)
			for _, i := range []uint64{10, 20} {
				if err := c.Save(i, state(i)); err != nil {
					t.Fatal(err)
				}
			}
			for i, f := range tt.damage {
				path := filepath.Join(dir, fmt.Sprintf("ckpt-%020d", i))
				b, _ := os.ReadFile(path)
				writeFile(t, path, f(b))
			}
			c = openCheckpoints(t, dir, qdir)
			checkLatest(t, c, tt.want, tt.floor)
			for _, i := range tt.quarantined {
				if _, err := os.Stat(filepath.Join(qdir, fmt.Sprintf("ckpt-ckpt-%020d", i))); err != nil {
					t.Fatalf("checkpoint %d not in quarantine: %v", i, err)
				}
			}
			if err := c.Save(30, state(30)); err != nil {
				t.Fatal(err)
			}
			checkLatest(t, c, 30, tt.saveThenKeep[0])
			var want []string
			for _, i := range tt.saveThenKeep {
				want = append(want, fmt.Sprintf("ckpt-%020d", i))
			}
			if got := ckptFiles(t, dir); !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
		})
	}
}

// TestCheckpointsDropFallback: DropFallback keeps the newest checkpoint
// alone, after reading it back; a newest that does not read back is set
// aside and the fallback kept.
func TestCheckpointsDropFallback(t *testing.T) {
	dir := t.TempDir()
	c := openCheckpoints(t, dir, "")
	if _, err := c.DropFallback(); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("DropFallback with no checkpoint: %v, want ErrNoCheckpoint", err)
	}
	for _, i := range []uint64{10, 20} {
		if err := c.Save(i, state(i)); err != nil {
			t.Fatal(err)
		}
	}
	floor, err := c.DropFallback()
	if err != nil || floor != 20 {
		t.Fatalf("DropFallback = %d, %v; want 20", floor, err)
	}
	checkLatest(t, c, 20, 20)
	if got, want := ckptFiles(t, dir), []string{fmt.Sprintf("ckpt-%020d", 20)}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if floor, err := c.DropFallback(); err != nil || floor != 20 {
		t.Fatalf("DropFallback again = %d, %v; want 20", floor, err)
	}

	if err := c.Save(30, state(30)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, fmt.Sprintf("ckpt-%020d", 30)), []byte("torn"))
	if _, err := c.DropFallback(); err == nil {
		t.Fatal("DropFallback with a damaged newest succeeded")
	}
	checkLatest(t, c, 20, 20)
}
