package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// TestRunnerSavePaced checks when the Runner saves the cursor: after every
// delivery with commit_interval 0; with a long one, at the first delivery
// and when Run returns, never in between.
func TestRunnerSavePaced(t *testing.T) {
	tests := []struct {
		name      string
		interval  time.Duration
		wantSaves []uint64
	}{
		{"every delivery", 0, []uint64{1, 2, 3, 4}},
		{"paced", time.Hour, []uint64{1, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := newFakeOutbox("m v=1 1\n")
			sink := &scriptSink{}
			cfg := testConfig("http://x/write?db=y")
			cfg.CommitInterval = tt.interval
			stop := startRunner(t, NewRunner(cfg, box, sink, "", nil))
			box.waitCommitted(t, 1)
			for i := 2; i <= 4; i++ {
				box.waitCommitted(t, box.Append(fmt.Sprintf("m v=1 %d\n", i)))
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			box.mu.Lock()
			saves := append([]uint64(nil), box.saves...)
			box.mu.Unlock()
			if !reflect.DeepEqual(saves, tt.wantSaves) {
				t.Errorf("saves at %v, want %v", saves, tt.wantSaves)
			}
			if got := len(sink.Writes()); got != 4 {
				t.Errorf("%d writes, want 4", got)
			}
		})
	}
}

// durableFile is a file sink that records, at every Sync, what a power
// loss would leave of its output: the rotated files and the synced part
// of the current one.
type durableFile struct {
	*fileSink
	mu      sync.Mutex
	durable []byte
}

func (d *durableFile) Sync() error {
	if err := d.fileSink.Sync(); err != nil {
		return err
	}
	d.fileSink.mu.Lock()
	defer d.fileSink.mu.Unlock()
	var all []byte
	for i := d.maxFiles; i >= 1; i-- {
		b, _ := os.ReadFile(fmt.Sprintf("%s.%d", d.path, i))
		all = append(all, b...)
	}
	cur, _ := os.ReadFile(d.path)
	all = append(all, cur[:d.synced]...)
	d.mu.Lock()
	d.durable = all
	d.mu.Unlock()
	return nil
}

// checkedBox fails the test when a cursor is saved past a line the file
// has not made durable.
type checkedBox struct {
	*wal.Outbox
	t     *testing.T
	file  *durableFile
	lines func(seq uint64) []byte
	saves int
}

func (b *checkedBox) Save() error {
	cursor := b.Cursor()
	b.file.mu.Lock()
	durable := b.file.durable
	b.file.mu.Unlock()
	for seq := uint64(1); seq <= cursor; seq++ {
		if !bytes.Contains(durable, b.lines(seq)) {
			b.t.Errorf("cursor %d saved, but entry %d is not durable in the file", cursor, seq)
			break
		}
	}
	b.saves++
	return b.Outbox.Save()
}

// TestFileSinkSavedCursorIsDurable delivers a stream to a rotating file
// sink with a paced cursor, and checks that every saved cursor covers only
// lines synced to disk, and that every line arrives, in order.
func TestFileSinkSavedCursorIsDurable(t *testing.T) {
	dir := t.TempDir()
	box, _, err := wal.OpenOutbox(filepath.Join(dir, "box"), wal.Options{SegmentSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	cfg := DefaultConfig()
	cfg.Name, cfg.Type, cfg.Path = "f", "file", filepath.Join(dir, "out", "f.lp")
	cfg.MaxSize, cfg.MaxFiles = 2<<10, 1000
	cfg.CommitInterval = 5 * time.Millisecond
	fs, err := newFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &durableFile{fileSink: fs}
	defer sink.Close()
	line := func(seq uint64) []byte { return fmt.Appendf(nil, "m,k=%d v=1i %d\n", seq, seq) }
	checked := &checkedBox{Outbox: box, t: t, file: sink, lines: line}
	stop := startRunner(t, NewRunner(cfg, checked, sink, "", nil))
	const n = 300
	for i := uint64(1); i <= n; i++ {
		if err := box.Append(i, line(i), false); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(testDeadline)
	for box.Cursor() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if checked.saves < 2 {
		t.Fatalf("%d saves; the test wants a paced stream", checked.saves)
	}
	sink.mu.Lock()
	durable := sink.durable
	sink.mu.Unlock()
	off := 0
	for seq := uint64(1); seq <= n; seq++ {
		i := bytes.Index(durable[off:], line(seq))
		if i < 0 {
			t.Fatalf("entry %d missing or out of order in the durable output", seq)
		}
		off += i
	}
}

// TestRunnerFinalSaveSyncs checks that the save at the end of Run syncs a
// file sink first, and that a sync failure rewinds instead of saving.
func TestRunnerFinalSaveSyncs(t *testing.T) {
	box := newFakeOutbox("m v=1 1\n", "m v=1 2\n")
	sink := &failingSyncSink{}
	cfg := testConfig("http://x/write?db=y")
	cfg.CommitInterval = time.Hour
	r := NewRunner(cfg, box, sink, "", nil)
	r.sleep = func(context.Context, time.Duration) error { return nil }
	stop := startRunner(t, r)
	box.waitCommitted(t, 2)
	box.waitCommitted(t, box.Append("m v=1 3\n"))
	sink.fail.Store(true) // the final save's sync fails
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	saves := append([]uint64(nil), box.saves...)
	box.mu.Unlock()
	if !reflect.DeepEqual(saves, []uint64{2}) {
		t.Errorf("saves at %v, want [2]: the cursor past a failed sync must not be saved", saves)
	}
	if got := sink.syncs.Load(); got != 2 {
		t.Errorf("%d syncs, want 2 (first save, final save)", got)
	}
}

// failingSyncSink takes every write and counts syncs; with fail set, Sync
// fails.
type failingSyncSink struct {
	fail  atomic.Bool
	syncs atomic.Int64
}

func (s *failingSyncSink) Write(context.Context, []byte) error { return nil }
func (s *failingSyncSink) Close() error                        { return nil }

func (s *failingSyncSink) Sync() error {
	s.syncs.Add(1)
	if s.fail.Load() {
		return errors.New("sync failed")
	}
	return nil
}
