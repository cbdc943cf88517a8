package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

// compatFixture is a version 2 checkpoint as plain JSON, written by the
// encoder of November 2026 (before checkpoints were compressed and
// streamed) after compatEntries(0, compatSplit) with harnessSteps.
var compatFixture = filepath.Join("testdata", "state_v2.json")

const (
	compatSeries = 5
	compatSplit  = 12 // entries in the fixture
	compatTotal  = 90 // entries of the whole run: windows fire after the split
)

// compatEntry is entry i (1-based) of the compatibility run: one point per
// series, one second apart, values that cross the threshold rule's levels.
func compatEntry(i int) wal.Entry {
	ts := window.NewTumbling(time.Minute).Start(base) + int64(i)*sec
	var b []byte
	for d := range compatSeries {
		b = fmt.Appendf(b, "temperature,device=d%d,zone=z%d value=%s %d\n",
			d, d%10, strconv.FormatFloat(20+float64((d+i*7)%13)/3, 'f', -1, 64), ts)
	}
	// Push some series over warn (30) and crit (35).
	if i%5 == 0 {
		b = append(b, "temperature,device=d1,zone=z1 value=36.5 "...)
		b = strconv.AppendInt(b, ts+1, 10)
		b = append(b, '\n')
	}
	return wal.Entry{Kind: wal.KindBatch, IngestTime: ts, Points: b}
}

// compatEngine returns an engine of harnessSteps over a log of the
// compatibility run's first n entries, with ck as its checkpoints.
func compatEngine(t *testing.T, n int, ck *memCkpt) (*Engine, *memLog, *memOutbox) {
	t.Helper()
	log := &memLog{}
	for i := 1; i <= n; i++ {
		log.add(compatEntry(i))
	}
	out := &memOutbox{}
	e, err := New(Config{Site: "s1", Steps: harnessSteps(), Checkpoint: DefaultCheckpoint()},
		log, map[string]Outbox{"out": out}, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, log, out
}

// TestWriteCompatFixture regenerates the fixture (RIVULET_WRITE_FIXTURE=1);
// it was run once, with the encoder the fixture stands for.
func TestWriteCompatFixture(t *testing.T) {
	if os.Getenv("RIVULET_WRITE_FIXTURE") == "" {
		t.Skip("set RIVULET_WRITE_FIXTURE=1 to regenerate " + compatFixture)
	}
	e, log, _ := compatEngine(t, compatSplit, &memCkpt{})
	if _, err := e.Recover(); err != nil {
		t.Fatal(err)
	}
	var ent wal.Entry
	for i := uint64(1); i <= compatSplit; i++ {
		if err := log.Read(i, &ent); err != nil {
			t.Fatal(err)
		}
		e.Apply(i, &ent)
	}
	if err := e.flushNow(); err != nil {
		t.Fatal(err)
	}
	data, err := e.snapshot(compatSplit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(compatFixture, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreV2JSON restores the plain-JSON version 2 fixture and checks
// that the run continued from it writes what an uninterrupted run writes
// after the split.
func TestRestoreV2JSON(t *testing.T) {
	data, err := os.ReadFile(compatFixture)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`{"version":2,`)) {
		t.Fatalf("%s is not a plain JSON version 2 checkpoint", compatFixture)
	}
	run := func(ck *memCkpt, from int) []byte {
		e, log, out := compatEngine(t, compatTotal, ck)
		next, err := e.Recover()
		if err != nil {
			t.Fatal(err)
		}
		if next != uint64(from) {
			t.Fatalf("recovered at %d, want %d", next, from)
		}
		var ent wal.Entry
		for i := uint64(from); i <= compatTotal; i++ {
			if err := log.Read(i, &ent); err != nil {
				t.Fatal(err)
			}
			e.Apply(i, &ent)
			if i == compatSplit {
				if err := e.flushNow(); err != nil {
					t.Fatal(err)
				}
				out.lines = out.lines[:0] // the restored run starts here
			}
		}
		if err := e.flushNow(); err != nil {
			t.Fatal(err)
		}
		return out.lines
	}
	want := run(&memCkpt{}, 1)
	ck := &memCkpt{}
	if err := ck.Save(compatSplit, data); err != nil {
		t.Fatal(err)
	}
	got := run(ck, compatSplit+1)
	if len(want) == 0 || !bytes.Contains(want, []byte("temp_1m")) || !bytes.Contains(want, []byte("too_hot")) {
		t.Fatalf("the reference run wrote no window and no alert results:\n%s", want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("restored from %s:\n%s\nuninterrupted:\n%s", compatFixture, got, want)
	}
}

// lockedCkpt is a memCkpt safe to read while Run saves.
type lockedCkpt struct {
	mu sync.Mutex
	memCkpt
}

func (c *lockedCkpt) Save(i uint64, d []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.memCkpt.Save(i, d)
}

func (c *lockedCkpt) Latest() (uint64, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.memCkpt.Latest()
}

func (c *lockedCkpt) savedIndexes() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint64(nil), c.saved...)
}

// TestRunSkipsUnchangedCheckpoint: a checkpoint tick with no entry applied
// since the last checkpoint writes nothing; one after new entries does,
// and shutdown always does.
func TestRunSkipsUnchangedCheckpoint(t *testing.T) {
	log := &memLog{}
	ck := &lockedCkpt{}
	e, stop := runEngine(t, Config{Site: "s1", Steps: harnessSteps(), Checkpoint: CheckpointConfig{Interval: time.Millisecond}}, log, ck)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for range 5000 {
			if ok() {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	// Idle: many ticks, no checkpoint.
	waitFor("an idle tick", func() bool { return e.Stats().LastCheckpoint.Load() != 0 })
	time.Sleep(20 * time.Millisecond)
	if got := ck.savedIndexes(); len(got) != 0 {
		t.Fatalf("idle engine saved checkpoints %v", got)
	}
	// The log and the engine's view of it are written here and read by Run:
	// Notify orders them.
	log.add(compatEntry(1))
	log.add(compatEntry(2))
	e.Notify(2)
	waitFor("a checkpoint of entry 2", func() bool { return len(ck.savedIndexes()) > 0 })
	time.Sleep(20 * time.Millisecond)
	if got := ck.savedIndexes(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("saved %v, want [2]: one checkpoint, none for the idle ticks after it", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := ck.savedIndexes(); len(got) != 2 || got[1] != 2 {
		t.Fatalf("saved %v, want [2 2]: shutdown saves", got)
	}
}

// sizedLog is a memLog with a size and a cap, as wal.Log reports them.
type sizedLog struct {
	memLog
	size atomic.Int64
	full atomic.Bool
	max  int64 // MaxSize; 0 for none
}

func (l *sizedLog) Size() int64    { return l.size.Load() }
func (l *sizedLog) Full() bool     { return l.full.Load() }
func (l *sizedLog) MaxSize() int64 { return l.max }

// TestRunLogRatio: with checkpoint.log_ratio, a tick after new entries
// writes a checkpoint only once the log has grown by log_ratio times the
// newest checkpoint's size.
func TestRunLogRatio(t *testing.T) {
	log := &sizedLog{}
	ck := &lockedCkpt{}
	cc := CheckpointConfig{Interval: time.Millisecond, LogRatio: 2, MaxInterval: time.Hour}
	e, stop := runEngine(t, Config{Site: "s1", Steps: harnessSteps(), Checkpoint: cc}, log, ck)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for range 5000 {
			if ok() {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	next := 1
	feed := func(n int) {
		for range n {
			log.add(compatEntry(next))
			next++
		}
		e.Notify(uint64(next - 1))
		waitFor("the entries to be applied", func() bool { return e.Stats().Index.Load() == uint64(next-1) })
	}
	feed(3)
	waitFor("the first checkpoint", func() bool { return len(ck.savedIndexes()) == 1 })
	_, first, _ := ck.Latest()
	// Less growth than twice the checkpoint: no checkpoint, however many
	// ticks pass.
	log.size.Add(int64(2*len(first) - 1))
	feed(3)
	time.Sleep(30 * time.Millisecond)
	if got := ck.savedIndexes(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("saved %v, want [3]: the log grew less than log_ratio × the checkpoint", got)
	}
	log.size.Add(1)
	waitFor("a checkpoint once the log grew enough", func() bool { return len(ck.savedIndexes()) == 2 })
	if got := ck.savedIndexes(); got[1] != 6 {
		t.Fatalf("saved %v, want [3 6]", got)
	}
	// A log at its cap checkpoints at the next tick whatever its growth:
	// the batcher holds the sources until the log is truncated.
	feed(2)
	time.Sleep(30 * time.Millisecond)
	if got := ck.savedIndexes(); len(got) != 2 {
		t.Fatalf("saved %v, want [3 6]: the log grew by nothing", got)
	}
	log.full.Store(true)
	waitFor("a checkpoint once the log is full", func() bool { return len(ck.savedIndexes()) == 3 })
	if got := ck.savedIndexes(); got[2] != 8 {
		t.Fatalf("saved %v, want [3 6 8]", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointConfigValidate covers the checkpoint section's limits.
func TestCheckpointConfigValidate(t *testing.T) {
	def := DefaultCheckpoint()
	for _, tc := range []struct {
		name string
		edit func(*CheckpointConfig)
		ok   bool
	}{
		{"defaults", func(*CheckpointConfig) {}, true},
		{"log ratio off", func(c *CheckpointConfig) { c.LogRatio = 0 }, true},
		{"negative log ratio", func(c *CheckpointConfig) { c.LogRatio = -1 }, false},
		{"max interval below interval", func(c *CheckpointConfig) { c.MaxInterval = time.Second }, false},
		{"max interval unused without log ratio", func(c *CheckpointConfig) { c.LogRatio, c.MaxInterval = 0, 0 }, true},
	} {
		c := def
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
