package wal

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// These tests simulate power loss for the files wal writes itself: outbox
// segments, the outbox cursor and checkpoints. After every acknowledged
// operation (one that returned after its fsync) they copy the directory;
// that copy is what survives any later crash. Between two acknowledged
// states A and B they build every state a crash can leave under the model
// "what was not fsynced may be lost": each file that grew from A to B cut to
// every length in between, each new file at every length, a leftover temp
// file of an atomic replace at every length, the rename of an atomic
// replace done but the clean-up not, and a removed file still present. Each
// state is opened from a fresh copy; nothing acknowledged in A may be
// missing, nothing may appear that B does not have, and opening twice must
// repair nothing the second time.

// dirSnap maps the slash path of each regular file under a directory
// (quarantine excluded) to its content.
type dirSnap map[string][]byte

func takeSnap(t *testing.T, dir string) dirSnap {
	t.Helper()
	s := dirSnap{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "quarantine" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			b, err := os.ReadFile(path)
			s[filepath.ToSlash(rel)] = b
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s dirSnap) clone() dirSnap {
	c := make(dirSnap, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

func (s dirSnap) with(name string, b []byte) dirSnap {
	c := s.clone()
	c[name] = b
	return c
}

// restore writes s into a new directory and returns its path.
func (s dirSnap) restore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range s {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, b)
	}
	return dir
}

type crashState struct {
	name  string
	files dirSnap
}

// atomicTemp is the name WriteFileAtomic's temp file for name has.
func atomicTemp(name string) string {
	dir, base := filepath.Split(name)
	return dir + "." + base + ".tmp-crash"
}

// How a file changes between two acknowledged states.
const (
	appended     = iota // written at its end, fsynced at the next ack
	atomicWrite         // replaced with WriteFileAtomic
	renamedWhole        // appears whole by a rename (tidwall's TruncateFront)
)

// crashStates lists what a power loss between the acknowledged states a and
// b can leave on disk; how says how each file of b is written.
func crashStates(a, b dirSnap, how func(name string) int) []crashState {
	var out []crashState
	add := func(name string, s dirSnap) { out = append(out, crashState{name, s}) }
	for _, name := range slices.Sorted(maps.Keys(b)) {
		old, had := a[name]
		nb := b[name]
		switch {
		case had && bytes.Equal(old, nb):
		case how(name) == atomicWrite:
			for n := 0; n <= len(nb); n++ {
				add(fmt.Sprintf("%s: temp file of %d/%d bytes", name, n, len(nb)), a.with(atomicTemp(name), nb[:n]))
			}
			add(name+": renamed, rest not done", a.with(name, nb))
		case how(name) == renamedWhole:
			add(name+": renamed, rest not done", a.with(name, nb))
		case !had:
			// A new segment is created only after the previous one was
			// fsynced whole: the files before it are as in b, the newer
			// ones do not exist yet.
			base := b.clone()
			for n := range b {
				if _, inA := a[n]; !inA && n > name && filepath.Dir(n) == filepath.Dir(name) {
					delete(base, n)
				}
			}
			for n := 0; n < len(nb); n++ {
				add(fmt.Sprintf("%s: new, %d of %d bytes", name, n, len(nb)), base.with(name, nb[:n]))
			}
		case bytes.HasPrefix(nb, old):
			for n := len(old); n < len(nb); n++ {
				add(fmt.Sprintf("%s: %d of %d bytes", name, n, len(nb)), a.with(name, nb[:n]))
			}
		default:
			add(name+": rewritten", a.with(name, nb))
		}
	}
	for name, old := range a {
		if _, ok := b[name]; !ok {
			add(name+": removal lost", b.with(name, old))
		}
	}
	return out
}

// outboxModel is what an outbox has acknowledged: its saved cursor (what
// Advance reached since is delivered again after a power loss),
// high-water mark and last seq.
type outboxModel struct {
	cursor, high, last uint64
}

// TestOutboxPowerLoss appends, syncs, advances and saves the cursor in a
// pattern that crosses segments and reclaims delivered entries, and checks
// every crash state between two acknowledged steps: every entry appended
// and synced is there, and delivery resumes after a saved cursor, never
// after one only advanced in memory.
func TestOutboxPowerLoss(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sink")
	opts := Options{SegmentSize: 512}
	o, _, err := OpenOutbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	clock := time.Unix(1_700_000_000, 0)
	o.now = func() time.Time { // every full delivery may reclaim
		clock = clock.Add(reclaimIdleEvery)
		return clock
	}
	ingestOf := map[uint64]uint64{} // seq → ingest index, for every seq ever appended
	var next uint64 = 1             // next ingest index
	appendN := func(n int, sync bool) func() error {
		return func() error {
			for i := range n {
				if err := o.Append(next, result(next), sync && i == n-1); err != nil {
					return err
				}
				ingestOf[o.log.LastIndex()] = next
				next += 2 // ingest indexes with gaps, as for a filtering step
			}
			return o.Sync()
		}
	}
	commit := func(back uint64) func() error {
		return func() error { return o.Commit(o.log.LastIndex() - back) }
	}
	advance := func(back uint64) func() error {
		return func() error { return o.Advance(o.log.LastIndex() - back) }
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"append 3", appendN(3, true)}, {"append 2, Sync", appendN(2, false)}, {"commit 2", func() error { return o.Commit(2) }},
		{"append 5", appendN(5, true)}, {"commit all", commit(0)}, {"append 4", appendN(4, true)},
		{"commit all but 1", commit(1)}, {"append 8 across segments", appendN(8, true)}, {"commit all but 3", commit(3)},
		{"commit all again", commit(0)}, {"append 1", appendN(1, true)},
		{"advance all, unsaved", advance(0)}, {"append 6 across segments", appendN(6, true)},
		{"advance all but 2, unsaved", advance(2)}, {"save", o.Save}, {"advance all, unsaved", advance(0)},
		{"append 2", appendN(2, true)}, {"save again", o.Save},
	}
	model := func() outboxModel {
		o.mu.Lock()
		saved := o.saved
		o.mu.Unlock()
		return outboxModel{saved, o.HighWater(), o.log.LastIndex()}
	}
	prev, prevModel := takeSnap(t, dir), model()
	total := 0
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		cur, curModel := takeSnap(t, dir), model()
		how := func(name string) int {
			index, kind := classify(name)
			switch {
			case name == "cursor":
				return atomicWrite
			case kind == fileSegment && index <= prevModel.last && prev[name] == nil:
				return renamedWhole // TruncateFront's copy of entries already synced
			}
			return appended
		}
		states := crashStates(prev, cur, how)
		states = append(states, crashState{"acknowledged state", cur})
		for _, cs := range states {
			checkOutboxCrash(t, st.name+": "+cs.name, cs.files, prevModel, curModel, ingestOf)
		}
		total += len(states)
		prev, prevModel = cur, curModel
	}
	t.Logf("%d crash states over %d steps", total, len(steps))
}

// checkOutboxCrash opens a copy of files and checks it against the
// acknowledged models before (a) and after (b) the step that crashed.
func checkOutboxCrash(t *testing.T, name string, files dirSnap, a, b outboxModel, ingestOf map[uint64]uint64) {
	t.Helper()
	dir := files.restore(t)
	o, rep, err := OpenOutbox(dir, Options{SegmentSize: 512})
	if err != nil {
		t.Fatalf("%s: OpenOutbox: %v", name, err)
	}
	defer o.Close()
	cursor, high, last := o.Cursor(), o.HighWater(), o.log.LastIndex()
	if cursor < a.cursor || cursor > b.cursor || high < a.high || high > b.high || last < a.last || last > b.last {
		t.Fatalf("%s: cursor %d high %d last %d; want cursor %d..%d, high %d..%d, last %d..%d (%v)",
			name, cursor, high, last, a.cursor, b.cursor, a.high, b.high, a.last, b.last, rep)
	}
	if rep.Quarantined != 0 || rep.CursorDamaged {
		t.Fatalf("%s: a crash damaged acknowledged data: %v", name, rep)
	}
	got, err := o.Next(0, 0)
	if err != nil {
		t.Fatalf("%s: Next: %v", name, err)
	}
	if uint64(len(got)) != last-cursor {
		t.Fatalf("%s: Next returned %d entries for cursor %d, last %d", name, len(got), cursor, last)
	}
	for i, e := range got {
		seq := cursor + 1 + uint64(i)
		if e.Seq != seq || e.IngestIndex != ingestOf[seq] || !bytes.Equal(e.Points, result(ingestOf[seq])) {
			t.Fatalf("%s: entry %d = {%d %d %q}, want seq %d ingest %d", name, i, e.Seq, e.IngestIndex, e.Points, seq, ingestOf[seq])
		}
	}
	if err := o.Append(high+1, result(high+1), true); err != nil {
		t.Fatalf("%s: Append after the crash: %v", name, err)
	}
	o.Close()
	o, rep, err = OpenOutbox(dir, Options{SegmentSize: 512})
	if err != nil || !rep.Empty() {
		t.Fatalf("%s: second open: %v, repaired again: %v", name, err, rep)
	}
	o.Close()
}

// TestCheckpointsPowerLoss saves checkpoints (a replace of the same index
// included) and checks every crash state between two saves: Latest never
// goes below the last acknowledged Save, and what it returns is intact.
func TestCheckpointsPowerLoss(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	c := openCheckpoints(t, dir, "")
	saves := []uint64{10, 20, 30, 30, 45, 46, 80}
	prev, prevLatest := takeSnap(t, dir), uint64(0)
	how := func(string) int { return atomicWrite }
	total := 0
	for _, idx := range saves {
		if err := c.Save(idx, state(idx)); err != nil {
			t.Fatal(err)
		}
		cur := takeSnap(t, dir)
		states := append(crashStates(prev, cur, how), crashState{"acknowledged state", cur})
		for _, cs := range states {
			checkCheckpointCrash(t, fmt.Sprintf("save %d: %s", idx, cs.name), cs.files, prevLatest, idx)
		}
		total += len(states)
		prev, prevLatest = cur, idx
	}
	t.Logf("%d crash states over %d saves", total, len(saves))
}

func checkCheckpointCrash(t *testing.T, name string, files dirSnap, a, b uint64) {
	t.Helper()
	dir := files.restore(t)
	qdir := filepath.Join(filepath.Dir(dir), "q")
	c, err := OpenCheckpoints(dir, qdir)
	if err != nil {
		t.Fatalf("%s: OpenCheckpoints: %v", name, err)
	}
	idx, st, err := c.Latest()
	if a == 0 && err != nil {
		return
	}
	if err != nil || idx < a || idx > b || string(st) != string(state(idx)) {
		t.Fatalf("%s: Latest = %d %q %v; want %d..%d", name, idx, st, err, a, b)
	}
	if f := c.Floor(); f == 0 || f > idx {
		t.Fatalf("%s: Floor %d with Latest %d", name, f, idx)
	}
	if ents, _ := os.ReadDir(qdir); len(ents) != 0 {
		t.Fatalf("%s: a crash state quarantined %d checkpoint(s)", name, len(ents))
	}
	if err := c.Save(b+1, state(b+1)); err != nil {
		t.Fatalf("%s: Save after the crash: %v", name, err)
	}
	checkLatest(t, openCheckpoints(t, dir, qdir), b+1, min(idx, b))
}

// TestCheckpointsKeepTwoTorn cuts the newest checkpoint to every length
// (and flips every byte of it): Latest must fall back to the previous one
// every time, and Floor must still cover it, so the log was not truncated
// past it.
func TestCheckpointsKeepTwoTorn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	c := openCheckpoints(t, dir, "")
	for _, i := range []uint64{10, 20} {
		if err := c.Save(i, state(i)); err != nil {
			t.Fatal(err)
		}
	}
	snap := takeSnap(t, dir)
	newest := fmt.Sprintf("ckpt-%020d", 20)
	good := snap[newest]
	var damaged [][]byte
	for n := range len(good) {
		damaged = append(damaged, good[:n])
		flipped := bytes.Clone(good)
		flipped[n] ^= 0x20
		damaged = append(damaged, flipped)
	}
	for i, b := range damaged {
		d := snap.with(newest, b).restore(t)
		c := openCheckpoints(t, d, filepath.Join(filepath.Dir(d), "q"))
		checkLatest(t, c, 10, 10)
		if _, err := os.Stat(filepath.Join(filepath.Dir(d), "q", "d-"+newest)); err != nil {
			t.Fatalf("damage %d: newest not quarantined: %v", i, err)
		}
	}
	t.Logf("%d damaged versions of the newest checkpoint", len(damaged))
}
