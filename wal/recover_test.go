package wal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func entryN(i int) *Entry {
	return &Entry{Kind: KindBatch, IngestTime: int64(i), Points: []byte(fmt.Sprintf("m v=%di %d\n", i, i))}
}

// readAll returns the ingest times of every entry in l, in order.
func readAll(t *testing.T, l *Log) []int64 {
	t.Helper()
	var got []int64
	var e Entry
	for i := l.FirstIndex(); i <= l.LastIndex() && i > 0; i++ {
		if err := l.Read(i, &e); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		got = append(got, e.IngestTime)
	}
	return got
}

// TestSyncFailureRollsBack: with RollbackUnsynced a failed fsync cuts the
// log back to the last good one, so writing the same entry again neither
// duplicates it nor leaves a hole, also across a reopen.
func TestSyncFailureRollsBack(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) { testSyncFailureRollsBack(t, compress) })
	}
}

func testSyncFailureRollsBack(t *testing.T, compress bool) {
	dir := t.TempDir()
	l, _, err := Open(dir, Options{SegmentSize: 4096, RollbackUnsynced: true, Compress: compress})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ { // several segments
		if _, _, err := l.Append(entryN(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Entries 51..80 are appended (crossing a segment) and their sync fails.
	for i := 51; i <= 80; i++ {
		if _, _, err := l.Append(entryN(i)); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("EIO")
	l.syncHook = func() error { return boom }
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want the injected error", err)
	}
	l.syncHook = nil
	if got := l.LastIndex(); got != 50 {
		t.Fatalf("after the failed sync LastIndex = %d, want 50 (the last synced)", got)
	}
	for i := 51; i <= 80; i++ { // the caller writes them again
		first, _, err := l.Append(entryN(i))
		if err != nil || first != uint64(i) {
			t.Fatalf("append %d again: index %d, %v", i, first, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, _, err = Open(dir, Options{SegmentSize: 4096, Compress: compress})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := readAll(t, l)
	if len(got) != 80 {
		t.Fatalf("%d entries after reopen, want 80", len(got))
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("entry %d holds %d: duplicated or lost", i+1, v)
		}
	}
}

// TestDiskFullRecovers fills a small tmpfs under the log: Append fails
// with ENOSPC without breaking the log, and once space returns appends go
// on at the next index with every earlier entry intact. Needs root.
func TestDiskFullRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	for _, rollback := range []bool{false, true} {
		t.Run(fmt.Sprintf("rollback=%v", rollback), func(t *testing.T) {
			mnt := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a tmpfs: %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
			dir := filepath.Join(mnt, "log")
			l, _, err := Open(dir, Options{SegmentSize: 32 << 10, RollbackUnsynced: rollback, Quarantine: filepath.Join(mnt, "q")})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// Eat most of the space, then append until the disk is full.
			filler := filepath.Join(mnt, "filler"+fmt.Sprint(rollback))
			if err := os.WriteFile(filler, make([]byte, 150<<10), 0o600); err != nil {
				t.Fatal(err)
			}
			big := strings.Repeat("x", 900)
			bigEntry := func(n int) *Entry {
				return &Entry{Kind: KindBatch, IngestTime: int64(n), Points: []byte("m s=\"" + big + "\" 1\n")}
			}
			var n int
			var full error
			for n = 1; n < 1000; n++ {
				if _, _, err := l.Append(bigEntry(n)); err != nil {
					full = err
					break
				}
				if err := l.Sync(); err != nil {
					full = err
					break
				}
			}
			if !errors.Is(full, syscall.ENOSPC) {
				t.Fatalf("no ENOSPC after %d entries: %v", n, full)
			}
			// Retrying while full keeps failing (or fits into what the
			// cut tail freed) and keeps the log sane.
			for range 3 {
				if _, _, err := l.Append(bigEntry(n)); err == nil {
					if err := l.Sync(); err == nil {
						n++
					}
				}
			}
			last := l.LastIndex()
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			first, _, err := l.Append(bigEntry(n))
			if err != nil {
				t.Fatalf("append after space returned: %v", err)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if first != last+1 {
				t.Fatalf("append after the disk-full went to %d, want %d", first, last+1)
			}
			got := readAll(t, l)
			for i, v := range got {
				if v != int64(i+1) {
					t.Fatalf("entry %d holds %d after recovery: %v", i+1, v, got)
				}
			}
		})
	}
}
