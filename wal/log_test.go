package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// testEntry is the deterministic content of entry i in these tests.
func testEntry(i uint64) *Entry {
	e := &Entry{Kind: KindBatch, IngestTime: int64(i) * 1_000_000}
	for j := uint64(0); j < i%3; j++ {
		e.Fingerprints = append(e.Fingerprints, i<<8|j)
	}
	e.Points = fmt.Appendf(nil, "m,host=h%d v=%di %d\n", i%5, i, i*1000)
	return e
}

func sameEntry(a, b *Entry) bool {
	return a.Kind == b.Kind && a.IngestTime == b.IngestTime &&
		slices.Equal(a.Fingerprints, b.Fingerprints) && bytes.Equal(a.Points, b.Points)
}

func openLog(t *testing.T, dir string, opts Options) (*Log, Repair) {
	t.Helper()
	l, rep, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, rep
}

// appendRange appends testEntry(from..to), one Append each.
func appendRange(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		first, last, err := l.Append(testEntry(i))
		if err != nil || first != i || last != i {
			t.Fatalf("Append(%d) = %d, %d, %v", i, first, last, err)
		}
	}
}

// checkRange reads from..to and compares them with testEntry, skipping the
// indexes in skip.
func checkRange(t *testing.T, l *Log, from, to uint64, skip ...uint64) {
	t.Helper()
	var e Entry
	for i := from; i <= to; i++ {
		if slices.Contains(skip, i) {
			continue
		}
		if err := l.Read(i, &e); err != nil {
			t.Fatalf("Read(%d): %v", i, err)
		}
		if !sameEntry(&e, testEntry(i)) {
			t.Fatalf("Read(%d) = %+v, want %+v", i, e, testEntry(i))
		}
	}
}

func diskSize(t *testing.T, dir string) int64 {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range segs {
		n += s.size
	}
	return n
}

func TestLogFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, rep := openLog(t, dir, Options{})
	if !rep.Empty() || l.FirstIndex() != 0 || l.LastIndex() != 0 || l.Size() != 0 {
		t.Fatalf("fresh log: repair %v, first %d, last %d, size %d", rep, l.FirstIndex(), l.LastIndex(), l.Size())
	}
	var e Entry
	if err := l.Read(1, &e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read(1) on empty log = %v, want ErrNotFound", err)
	}
	first, last, err := l.Append(testEntry(1), testEntry(2), testEntry(3))
	if err != nil || first != 1 || last != 3 {
		t.Fatalf("Append = %d, %d, %v; want 1, 3", first, last, err)
	}
	checkRange(t, l, 1, 3)
	for _, p := range []string{dir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("dir mode %v, %v", fi.Mode(), err)
		}
	}
	segs, _ := listSegments(dir)
	if fi, err := os.Stat(segs[0].path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("segment mode %v, %v", fi.Mode(), err)
	}
}

func TestLogAppendErrors(t *testing.T) {
	l, _ := openLog(t, t.TempDir(), Options{})
	appendRange(t, l, 1, 2)
	if _, _, err := l.Append(testEntry(3), &Entry{Kind: 9}); !errors.Is(err, ErrKind) {
		t.Fatalf("Append with kind 9 = %v, want ErrKind", err)
	}
	if l.LastIndex() != 2 {
		t.Fatalf("a rejected batch wrote entries: last %d", l.LastIndex())
	}
	if f, la, err := l.Append(); f != 0 || la != 0 || err != nil {
		t.Fatalf("Append() = %d, %d, %v", f, la, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	var e Entry
	for name, err := range map[string]error{
		"Append": func() error { _, _, err := l.Append(testEntry(3)); return err }(),
		"Read":   l.Read(1, &e),
		"Sync":   l.Sync(),
		"Trunc":  l.TruncateFront(2),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestLogSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 256}
	l, _ := openLog(t, dir, opts)
	appendRange(t, l, 1, 60)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	segs, _ := listSegments(dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments, want several with SegmentSize 256", len(segs))
	}
	if l.Size() != diskSize(t, dir) {
		t.Fatalf("Size %d, files hold %d", l.Size(), diskSize(t, dir))
	}
	checkRange(t, l, 1, 60)
	l.Close()
	l, rep := openLog(t, dir, opts)
	if !rep.Empty() || l.FirstIndex() != 1 || l.LastIndex() != 60 || l.Size() != diskSize(t, dir) {
		t.Fatalf("reopen: %v first %d last %d size %d", rep, l.FirstIndex(), l.LastIndex(), l.Size())
	}
	checkRange(t, l, 1, 60)
	appendRange(t, l, 61, 70)
	checkRange(t, l, 1, 70)
}

func TestLogTruncateFront(t *testing.T) {
	tests := []struct {
		name      string
		index     uint64
		wantFirst uint64
	}{
		{"below first is a no-op", 0, 1},
		{"first is a no-op", 1, 1},
		{"middle", 23, 23},
		{"segment boundary region", 41, 41},
		{"last", 50, 50},
		{"past last clamps", 1000, 50},
	}
	for _, whole := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/whole=%v", tt.name, whole), func(t *testing.T) {
				dir := t.TempDir()
				opts := Options{SegmentSize: 256, WholeSegments: whole}
				l, _ := openLog(t, dir, opts)
				appendRange(t, l, 1, 50)
				before := l.Size()
				segs, err := listSegments(dir)
				if err != nil {
					t.Fatal(err)
				}
				wantFirst := tt.wantFirst
				if whole { // the first index of the segment holding it
					for _, s := range segs {
						if s.index <= tt.wantFirst {
							wantFirst = s.index
						}
					}
				}
				infos := map[string]os.FileInfo{}
				for _, s := range segs {
					infos[s.path], _ = os.Stat(s.path)
				}
				if err := l.TruncateFront(tt.index); err != nil {
					t.Fatal(err)
				}
				if l.FirstIndex() != wantFirst || l.LastIndex() != 50 {
					t.Fatalf("first %d last %d, want %d, 50", l.FirstIndex(), l.LastIndex(), wantFirst)
				}
				if l.Size() != diskSize(t, dir) || (wantFirst > 1) != (l.Size() < before) {
					t.Fatalf("Size %d (before %d), files hold %d", l.Size(), before, diskSize(t, dir))
				}
				if whole { // segments are removed or left as they were, never rewritten
					after, err := listSegments(dir)
					if err != nil {
						t.Fatal(err)
					}
					for _, s := range after {
						fi, err := os.Stat(s.path)
						if err != nil || infos[s.path] == nil || !os.SameFile(fi, infos[s.path]) || fi.Size() != infos[s.path].Size() {
							t.Fatalf("segment %s was rewritten or is new", filepath.Base(s.path))
						}
					}
				}
				var e Entry
				if err := l.Read(wantFirst-1, &e); wantFirst > 1 && !errors.Is(err, ErrNotFound) {
					t.Fatalf("Read below first = %v", err)
				}
				checkRange(t, l, wantFirst, 50)
				appendRange(t, l, 51, 51) // the reopened tidwall appends in place
				checkRange(t, l, wantFirst, 51)
				l.Close()
				l, _ = openLog(t, dir, opts)
				if l.FirstIndex() != wantFirst || l.LastIndex() != 51 {
					t.Fatalf("after reopen first %d last %d", l.FirstIndex(), l.LastIndex())
				}
				appendRange(t, l, 52, 53)
				checkRange(t, l, wantFirst, 53)
			})
		}
	}
}

// openRollbackLog opens a log in dir that truncates whole segments and
// rolls back failed syncs, with entries 1..synced synced and
// synced+1..written appended after that Sync.
func openRollbackLog(t *testing.T, dir string, synced, written uint64) (*Log, Options) {
	t.Helper()
	opts := Options{SegmentSize: 256, WholeSegments: true, RollbackUnsynced: true}
	l, _ := openLog(t, dir, opts)
	appendRange(t, l, 1, synced)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	appendRange(t, l, synced+1, written)
	return l, opts
}

// TestLogWholeSegmentsRollback: a failed Sync after a truncation of whole
// segments cuts the log back to the last successful Sync, although
// tidwall synced everything when the truncation closed it: the caller
// writes the failed batch again, which must not leave it twice.
func TestLogWholeSegmentsRollback(t *testing.T) {
	dir := t.TempDir()
	l, opts := openRollbackLog(t, dir, 40, 50)  // 41..50: a batch whose Sync is still to come
	if err := l.TruncateFront(41); err != nil { // what is synced, as the engine does
		t.Fatal(err)
	}
	first := l.FirstIndex()
	if first <= 1 || first > 41 {
		t.Fatalf("FirstIndex %d after TruncateFront(41)", first)
	}
	boom := errors.New("EIO")
	l.syncHook = func() error { return boom }
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want the injected error", err)
	}
	l.syncHook = nil
	if l.FirstIndex() != first || l.LastIndex() != 40 {
		t.Fatalf("after the failed sync: entries %d..%d, want %d..40", l.FirstIndex(), l.LastIndex(), first)
	}
	appendRange(t, l, 41, 60) // the failed batch again, and more
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, _ = openLog(t, dir, opts)
	if l.FirstIndex() != first || l.LastIndex() != 60 {
		t.Fatalf("after reopen: entries %d..%d, want %d..60", l.FirstIndex(), l.LastIndex(), first)
	}
	checkRange(t, l, first, 60)
}

// TestLogWholeSegmentsCloseFails: when tidwall's sync on close fails
// during a truncation, the truncation fails and the next Sync reports the
// failure and rolls back, so that the batch it would have made durable is
// written again, once.
func TestLogWholeSegmentsCloseFails(t *testing.T) {
	dir := t.TempDir()
	l, opts := openRollbackLog(t, dir, 40, 50)
	boom := errors.New("EIO")
	l.closeHook = func() error { return boom }
	if err := l.TruncateFront(41); !errors.Is(err, boom) {
		t.Fatalf("TruncateFront = %v, want the injected error", err)
	}
	l.closeHook = nil
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("Sync after the failed close = %v, want the injected error", err)
	}
	if l.FirstIndex() != 1 || l.LastIndex() != 40 {
		t.Fatalf("after the failed sync: entries %d..%d, want 1..40", l.FirstIndex(), l.LastIndex())
	}
	appendRange(t, l, 41, 50)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFront(41); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, _ = openLog(t, dir, opts)
	if l.LastIndex() != 50 || l.FirstIndex() <= 1 || l.FirstIndex() > 41 {
		t.Fatalf("after reopen: entries %d..%d, want ≤41..50", l.FirstIndex(), l.LastIndex())
	}
	checkRange(t, l, l.FirstIndex(), 50)
}

// TestLogSyncAfterFailedClose: a Sync whose fsync succeeds after a
// truncation's close failed to sync (which consumed the file's error)
// reports that failure and rolls back.
func TestLogSyncAfterFailedClose(t *testing.T) {
	l, _ := openRollbackLog(t, t.TempDir(), 40, 50)
	boom := errors.New("EIO")
	l.syncHook = func() error {
		l.syncErr = boom // as dropSegments leaves it when tidwall's close fails meanwhile
		return nil
	}
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want the close's error", err)
	}
	l.syncHook = nil
	if l.LastIndex() != 40 {
		t.Fatalf("after the failed sync: last %d, want 40", l.LastIndex())
	}
	appendRange(t, l, 41, 50)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	checkRange(t, l, 1, 50)
}

// TestLogWholeSegmentsRollbackPastSync: a truncation past the last Sync
// (which the engine never asks for) removes the segment holding the
// rollback point; a failed Sync then cuts back to the first segment left,
// and indexes never go back.
func TestLogWholeSegmentsRollbackPastSync(t *testing.T) {
	l, _ := openRollbackLog(t, t.TempDir(), 10, 50)
	if err := l.TruncateFront(45); err != nil {
		t.Fatal(err)
	}
	first := l.FirstIndex()
	if first <= 10 || first > 45 {
		t.Fatalf("FirstIndex %d after TruncateFront(45)", first)
	}
	l.syncHook = func() error { return errors.New("EIO") }
	if err := l.Sync(); err == nil {
		t.Fatal("Sync succeeded with the injected error")
	}
	l.syncHook = nil
	if l.LastIndex() != first-1 {
		t.Fatalf("after the failed sync: last %d, want %d (the log cut to the start of its first segment)", l.LastIndex(), first-1)
	}
	appendRange(t, l, first, first+5)
	checkRange(t, l, first, first+5)
}

func TestLogFull(t *testing.T) {
	l, _ := openLog(t, t.TempDir(), Options{SegmentSize: 512, MaxSize: 1000})
	for i := uint64(1); !l.Full(); i++ {
		if i > 100 {
			t.Fatal("never Full")
		}
		before := l.Size()
		appendRange(t, l, i, i)
		if l.Size() <= before {
			t.Fatalf("Size did not grow: %d -> %d", before, l.Size())
		}
	}
	if l.Size() < 1000 {
		t.Fatalf("Full at %d bytes, cap 1000", l.Size())
	}
	if err := l.TruncateFront(l.LastIndex()); err != nil {
		t.Fatal(err)
	}
	if l.Full() {
		t.Fatalf("still Full after truncation: %d bytes", l.Size())
	}
	unbounded, _ := openLog(t, t.TempDir(), Options{})
	appendRange(t, unbounded, 1, 10)
	if unbounded.Full() {
		t.Fatal("Full without MaxSize")
	}
}

// TestLogConcurrent runs one writer and two readers; run it with -race.
func TestLogConcurrent(t *testing.T) {
	l, _ := openLog(t, t.TempDir(), Options{SegmentSize: 1024})
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		for i := uint64(1); i <= n; i++ {
			if _, _, err := l.Append(testEntry(i)); err != nil {
				errs <- err
				return
			}
			if i%16 == 0 {
				_ = l.Sync()
			}
		}
	})
	for r := 0; r < 2; r++ {
		wg.Go(func() { errs <- follow(l, n) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// follow reads entries 1..n as they appear and checks them, rereading an
// older one each time so that older segments are loaded too.
func follow(l *Log, n uint64) error {
	var e Entry
	for next := uint64(1); next <= n; {
		if next > l.LastIndex() {
			_ = l.Full()
			continue
		}
		for _, i := range []uint64{next, next/2 + 1} {
			if err := l.Read(i, &e); err != nil {
				return fmt.Errorf("Read(%d): %w", i, err)
			}
			if !sameEntry(&e, testEntry(i)) {
				return fmt.Errorf("Read(%d) = %+v", i, e)
			}
		}
		next++
	}
	return nil
}

// TestLogSyncsCountsRotations: Syncs counts each Sync and each segment
// tidwall closed (and synced) to start a new one; the expected count is
// taken from the segment files on disk, before and after a reopen.
func TestLogSyncsCountsRotations(t *testing.T) {
	for _, batch := range []int{1, 3} {
		dir := t.TempDir()
		opts := Options{SegmentSize: 256}
		l, _ := openLog(t, dir, opts)
		next := uint64(1)
		appendSome := func(n int) {
			for range n {
				var es []*Entry
				for range batch {
					es = append(es, testEntry(next))
					next++
				}
				if _, _, err := l.Append(es...); err != nil {
					t.Fatal(err)
				}
			}
		}
		segments := func() uint64 {
			segs, err := listSegments(dir)
			if err != nil {
				t.Fatal(err)
			}
			return uint64(len(segs))
		}
		appendSome(20)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if got, want := l.Syncs(), segments()-1+1; got != want {
			t.Fatalf("batch %d: Syncs = %d, want %d (rotations + 1 Sync)", batch, got, want)
		}
		l.Close()
		l, _ = openLog(t, dir, opts)
		before := segments()
		appendSome(15)
		if got, want := l.Syncs(), segments()-before; got != want {
			t.Fatalf("batch %d after reopen: Syncs = %d, want %d rotations", batch, got, want)
		}
		was := l.Syncs()
		if err := l.TruncateFront(next / 2); err != nil {
			t.Fatal(err)
		}
		if got := l.Syncs(); got != was+2 {
			t.Fatalf("batch %d: TruncateFront added %d syncs, want 2", batch, got-was)
		}
	}
}

// TestLogReadShared reads every entry with ReadShared while it is still
// being written, keeps what it lent, and checks that the kept points are
// unchanged after later appends, segment rotations (the segment cache
// evicts the lent segments), a TruncateFront and a failed-and-recovered
// append.
func TestLogReadShared(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Options{SegmentSize: 256})
	var kept [][]byte
	var e Entry
	for i := uint64(1); i <= 80; i++ {
		appendRange(t, l, i, i)
		if err := l.ReadShared(i, &e); err != nil {
			t.Fatalf("ReadShared(%d): %v", i, err)
		}
		if !sameEntry(&e, testEntry(i)) {
			t.Fatalf("ReadShared(%d) = %+v, want %+v", i, e, testEntry(i))
		}
		if cap(e.Points) != len(e.Points) {
			t.Fatalf("ReadShared(%d): points have room to grow (len %d, cap %d): an append would write into the log's memory", i, len(e.Points), cap(e.Points))
		}
		kept = append(kept, e.Points)
		if i == 40 {
			if err := l.TruncateFront(30); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(&Entry{Kind: Kind(200)}); err == nil {
		t.Fatal("Append of an invalid kind succeeded")
	}
	appendRange(t, l, 81, 120)
	for i, p := range kept {
		if want := testEntry(uint64(i) + 1).Points; !bytes.Equal(p, want) {
			t.Fatalf("points lent for entry %d changed to %q, want %q", i+1, p, want)
		}
	}
	checkRange(t, l, 30, 120)
}

// TestLogLetsBatchBuffersGo checks that the encoding buffers grown by one
// large append are let go once appends stay small, and kept while large
// appends continue.
func TestLogLetsBatchBuffersGo(t *testing.T) {
	l, _ := openLog(t, t.TempDir(), Options{SegmentSize: 4 << 20})
	big := &Entry{Kind: KindBatch, Points: bytes.Repeat([]byte("m v=1i 1\n"), 100_000)}
	small := testEntry(1)
	for range 40 {
		if _, _, err := l.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	if cap(l.buf) < len(big.Points) || l.batchPeak < len(big.Points) {
		t.Fatalf("after large appends: buf cap %d, batch peak %d; want both kept (≥ %d)", cap(l.buf), l.batchPeak, len(big.Points))
	}
	for range 40 {
		if _, _, err := l.Append(small); err != nil {
			t.Fatal(err)
		}
	}
	if cap(l.buf) > 64<<10 || l.batchPeak > 64<<10 {
		t.Fatalf("after 40 small appends: buf cap %d, batch peak %d; want both let go", cap(l.buf), l.batchPeak)
	}
	var e Entry
	for i, want := range map[uint64]*Entry{40: big, 41: small, 80: small} {
		if err := l.Read(i, &e); err != nil || !sameEntry(&e, want) {
			t.Fatalf("Read(%d): %v, or not the entry appended", i, err)
		}
	}
}

// TestLogCompress writes a log plain, then compressed after a reopen, and
// reads every entry back with Read and ReadShared, with the option on and
// off: readers take either form whatever the option.
func TestLogCompress(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Options{SegmentSize: 4096})
	appendRange(t, l, 1, 30)
	l.Close()
	l, _ = openLog(t, dir, Options{SegmentSize: 4096, Compress: true})
	size0 := l.Size()
	appendRange(t, l, 31, 60)
	big := &Entry{Kind: KindBatch, IngestTime: 7, Points: bytes.Repeat([]byte("temperature,zone=a value=21.5 1700000000000000000\n"), 2000)}
	before := l.Size()
	if _, _, err := l.Append(big, &Entry{Kind: KindHeartbeat, IngestTime: 8}); err != nil {
		t.Fatal(err)
	}
	if grew := l.Size() - before; grew*20 > int64(len(big.Points)) {
		t.Fatalf("a %d-byte batch took %d bytes on disk, want under a twentieth", len(big.Points), grew)
	}
	wantLP := int64(len(big.Points))
	for i := uint64(31); i <= 60; i++ {
		wantLP += int64(len(testEntry(i).Points))
	}
	if lp, stored := l.Written(); lp != wantLP || stored != l.Size()-size0 {
		t.Fatalf("Written = %d, %d; want %d, %d", lp, stored, wantLP, l.Size()-size0)
	}
	check := func(l *Log) {
		t.Helper()
		checkRange(t, l, 1, 60)
		var e, other Entry
		for i := uint64(1); i <= 60; i++ {
			if err := l.ReadShared(i, &e); err != nil || !sameEntry(&e, testEntry(i)) {
				t.Fatalf("ReadShared(%d) = %+v, %v", i, e, err)
			}
			// The points lent stay as they are while another Entry is read.
			if err := l.ReadShared(61, &other); err != nil || !sameEntry(&other, big) {
				t.Fatalf("ReadShared(61): %v", err)
			}
			if !sameEntry(&e, testEntry(i)) {
				t.Fatalf("entry %d changed when 61 was read", i)
			}
		}
		if err := l.Read(62, &e); err != nil || e.Kind != KindHeartbeat || len(e.Points) != 0 {
			t.Fatalf("Read(62) = %+v, %v", e, err)
		}
	}
	check(l)
	l.Close()
	versions := map[byte]int{}
	segs, _ := listSegments(dir)
	for _, s := range segs {
		data, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); {
			rec, next, ok := nextFrame(data, off)
			if !ok {
				t.Fatalf("%s does not parse at %d", s.path, off)
			}
			versions[rec[0]]++
			off = next
		}
	}
	if versions[formatV1] != 31 || versions[formatV2] != 31 {
		t.Fatalf("records by version %v, want 31 plain (30 batches, a heartbeat) and 31 compressed", versions)
	}
	for _, compress := range []bool{false, true} {
		l, rep := openLog(t, dir, Options{SegmentSize: 4096, Compress: compress})
		if !rep.Empty() {
			t.Fatalf("reopen repaired %v", rep)
		}
		check(l)
		l.Close()
	}
}

// TestLogReadSharedThenCompressed reads a plain entry with ReadShared (its
// points are the log's memory), then a compressed one into the same Entry:
// the decompression must not land in the log's memory of the plain one.
func TestLogReadSharedThenCompressed(t *testing.T) {
	dir := t.TempDir()
	plain := &Entry{Kind: KindBatch, IngestTime: 1, Points: bytes.Repeat([]byte("m,t=p v=1 1\n"), 200)}
	small := &Entry{Kind: KindBatch, IngestTime: 2, Points: bytes.Repeat([]byte("m,t=c v=2 2\n"), 100)}
	l, _ := openLog(t, dir, Options{})
	if _, _, err := l.Append(plain); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, _ = openLog(t, dir, Options{Compress: true})
	if _, _, err := l.Append(small); err != nil {
		t.Fatal(err)
	}
	var e Entry
	for range 2 {
		for i, want := range []*Entry{plain, small} {
			if err := l.ReadShared(uint64(i+1), &e); err != nil || !sameEntry(&e, want) {
				t.Fatalf("ReadShared(%d) = %d bytes of points, %v; want %d", i+1, len(e.Points), err, len(want.Points))
			}
		}
	}
	var fresh Entry
	if err := l.Read(1, &fresh); err != nil || !sameEntry(&fresh, plain) {
		t.Fatalf("entry 1 changed in the log's memory: %q…", fresh.Points[:24])
	}
}
