package main

import (
	"bytes"
	"context"
	varint "encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/wal"
)

// logEntries turns readings into the log a batcher would write: an epoch,
// then batches of per readings stamped a little after their newest event
// time, and a heartbeat after every third batch.
func logEntries(rs []reading, per int) []*wal.Entry {
	at := rs[0].ts
	out := []*wal.Entry{{Kind: wal.KindEpoch, IngestTime: at}}
	for i := 0; i < len(rs); i += per {
		e := &wal.Entry{Kind: wal.KindBatch}
		for j, r := range rs[i:min(i+per, len(rs))] {
			e.Points = fmt.Appendf(e.Points, "temperature,sensor=%s,zone=%s value=%g %d\n", r.sensor, r.zone, r.value, r.ts)
			e.Fingerprints = append(e.Fingerprints, uint64(i+j))
			at = max(at, r.ts+int64(50*time.Millisecond))
		}
		e.IngestTime = at
		out = append(out, e)
		if len(out)%4 == 0 {
			at += int64(100 * time.Millisecond)
			out = append(out, &wal.Entry{Kind: wal.KindHeartbeat, IngestTime: at})
		}
	}
	return out
}

// dataDir is a data_dir built in-process with the real log, outbox,
// checkpoints and engine, as the agent leaves it after two checkpoints:
// the log holds what the newest-but-one checkpoint did not cover, plus
// entries no engine has seen; the outbox holds two results, one delivered.
type dataDir struct {
	cfg, dir string
	entries  []*wal.Entry // entries[i] has index i+1
	ckpts    [2]uint64    // checkpointed indexes
	high     uint64       // outbox high-water mark
}

func buildDataDir(t *testing.T, rs []reading) *dataDir {
	t.Helper()
	root := t.TempDir()
	d := &dataDir{cfg: siteConfig(t, root, "tcp://127.0.0.1:1", "", ""), dir: filepath.Join(root, "data"),
		entries: logEntries(rs, 40)}
	cfg, err := config.Load(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(d.dir, dirQuarantine)
	l, _, err := wal.Open(filepath.Join(d.dir, dirLog), wal.Options{SegmentSize: 4096, Quarantine: qdir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	box, _, err := wal.OpenOutbox(filepath.Join(d.dir, dirOutbox, "local"), wal.Options{Quarantine: qdir})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	ckpt, err := wal.OpenCheckpoints(filepath.Join(d.dir, dirCheckpoint), qdir)
	if err != nil {
		t.Fatal(err)
	}
	n := len(d.entries)
	for i, upto := range []int{n / 3, 2 * n / 3} {
		appendEntries(t, l, d.entries[l.LastIndex():upto])
		runRealEngine(t, cfg, l, box, ckpt)
		d.ckpts[i] = uint64(upto)
	}
	appendEntries(t, l, d.entries[l.LastIndex():])
	if err := box.Commit(1); err != nil {
		t.Fatal(err)
	}
	d.high = box.HighWater()
	if err := os.WriteFile(filepath.Join(d.dir, lockFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func appendEntries(t *testing.T, l *wal.Log, es []*wal.Entry) {
	t.Helper()
	if _, _, err := l.Append(es...); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// runRealEngine processes the whole log as the agent would, then stops with
// a checkpoint (which truncates the log below the older checkpoint).
func runRealEngine(t *testing.T, cfg *config.Config, l *wal.Log, box *wal.Outbox, ckpt *wal.Checkpoints) {
	t.Helper()
	ecfg := engine.Config{Site: cfg.Site, Steps: cfg.Pipeline, Checkpoint: cfg.Checkpoint, Sync: true}
	eng, err := engine.New(ecfg, l, map[string]engine.Outbox{"local": box}, ckpt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Recover(); err != nil {
		t.Fatal(err)
	}
	eng.Notify(l.LastIndex())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eng.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// summary is the last line inspect wal prints for entries from..to, of
// which those in bad are damaged.
func (d *dataDir) summary(from, to uint64, bad ...uint64) string {
	kinds := map[wal.Kind]int{}
	points := 0
	var minT, maxT int64
	for i := from; i <= to; i++ {
		if slices.Contains(bad, i) {
			continue
		}
		e := d.entries[i-1]
		if len(kinds) == 0 || e.IngestTime < minT {
			minT = e.IngestTime
		}
		maxT = max(maxT, e.IngestTime)
		kinds[e.Kind]++
		points += bytes.Count(e.Points, []byte{'\n'})
	}
	return fmt.Sprintf("summary: %d entries (%d batch, %d heartbeat, %d epoch, %d damaged), %d points, ingest time %s to %s",
		to-from+1, kinds[wal.KindBatch], kinds[wal.KindHeartbeat], kinds[wal.KindEpoch], len(bad), points,
		fmtTime(minT), fmtTime(maxT))
}

// treeFiles returns every file under dir with its content.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
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

func sameTree(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := treeFiles(t, dir)
	for path, b := range before {
		if a, ok := after[path]; !ok || a != b {
			t.Errorf("%s changed or vanished", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s appeared", path)
		}
	}
}

// runCmd runs the CLI in-process and returns its exit code and output.
func runCmd(args ...string) (code int, stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	var ec exitCode
	switch {
	case errors.As(err, &ec):
		code = int(ec)
	case err != nil:
		code = 1
	}
	return code, out.String(), errOut.String(), err
}

// flipRecord flips a bit inside the first record of the oldest segment
// (never the tail segment) whose first index pick accepts, and returns that
// index.
func flipRecord(t *testing.T, logDir string, pick func(index uint64) bool) uint64 {
	t.Helper()
	v, err := wal.OpenView(logDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range v.Segments[:max(len(v.Segments), 1)-1] {
		if !pick(seg.First) {
			continue
		}
		data, _ := os.ReadFile(seg.Path)
		_, n := varint.Uvarint(data)
		data[n+12] ^= 0x08
		if err := os.WriteFile(seg.Path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return seg.First
	}
	t.Fatalf("no segment to damage among %d", len(v.Segments))
	return 0
}

func TestInspect(t *testing.T) {
	d := buildDataDir(t, readings(2, 2, 600, 1))
	first, last := d.ckpts[0]+1, uint64(len(d.entries))
	line := func(i uint64) string { return fmt.Sprintf("\n  %8d  ", i) }
	tests := []struct {
		name     string
		args     []string
		damage   func(t *testing.T) (contains []string)
		contains []string
		lacks    []string
	}{
		{name: "wal default", args: []string{"wal"},
			contains: []string{fmt.Sprintf("entries %d..%d (%d)", first, last, last-first+1),
				line(last - 19), line(last), d.summary(first, last)},
			lacks: []string{line(last - 20), "damaged:", "damaged tail"}},
		{name: "wal page with points", args: []string{"wal", "--from", fmt.Sprint(first + 2), "--limit", "3", "--points"},
			contains: []string{line(first + 2), line(first + 4),
				"\n        " + strings.SplitAfter(string(d.entries[first+2].Points), "\n")[0]},
			lacks: []string{line(first + 1), line(first + 5)}},
		{name: "wal damaged", args: []string{"wal", "--limit", "0"},
			damage: func(t *testing.T) []string {
				damageTail(t, filepath.Join(d.dir, dirLog), bytes.Repeat([]byte{0xff}, 37))
				bad := flipRecord(t, filepath.Join(d.dir, dirLog), func(uint64) bool { return true })
				return []string{"damaged tail: 1 record(s), 37 bytes", line(bad) + "damaged: ",
					"wal: record checksum mismatch", line(last), d.summary(first, last, bad)}
			}},
		{name: "checkpoint", args: []string{"checkpoint"},
			contains: []string{fmt.Sprintf("ckpt-%020d  index %d", d.ckpts[0], d.ckpts[0]),
				fmt.Sprintf("newest valid checkpoint: index %d", d.ckpts[1]), "step temp_1s (tumbling 1s)",
				"points before ", "max event time", "idle clock", "late points     0", "open windows    ", "open series, all steps: "}},
		{name: "outbox", args: []string{"outbox", "--points"},
			contains: []string{"outbox local", "cursor 1 (delivered through ingest index ",
				fmt.Sprintf("high-water mark: ingest index %d", d.high),
				fmt.Sprintf("backlog: 1 entries, "), fmt.Sprintf("first pending: seq 2 from ingest index %d", d.high),
				"\n        temp_1s,sensor="}},
		{name: "outbox unknown sink", args: []string{"outbox", "--sink", "nope"}, contains: []string{`no sink "nope"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			contains := tc.contains
			if tc.damage != nil {
				contains = tc.damage(t)
			}
			before := treeFiles(t, d.dir)
			code, out, errOut, err := runCmd(append(append([]string{"inspect"}, tc.args...), "--config", d.cfg)...)
			sameTree(t, d.dir, before)
			all := out + errOut
			if err != nil {
				all += err.Error()
			}
			if wantErr := strings.Contains(tc.name, "unknown"); (code != 0) != wantErr {
				t.Fatalf("exit %d (%v)\n%s", code, err, all)
			}
			for _, s := range contains {
				if !strings.Contains(all, s) {
					t.Errorf("output lacks %q", s)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(all, s) {
					t.Errorf("output has %q", s)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", all)
			}
		})
	}
}

// TestToolsRefuseRunningAgent holds data_dir/LOCK as the agent does and
// checks that inspect and replay refuse to open anything.
func TestToolsRefuseRunningAgent(t *testing.T) {
	d := buildDataDir(t, readings(1, 1, 600, 2))
	f, err := os.Open(filepath.Join(d.dir, lockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.lp")
	for _, args := range [][]string{{"inspect", "wal"}, {"inspect", "checkpoint"}, {"inspect", "outbox"}, {"replay", "--to", out}} {
		before := treeFiles(t, d.dir)
		code, stdout, _, err := runCmd(append(args, "--config", d.cfg)...)
		sameTree(t, d.dir, before)
		if code != 1 || err == nil || !strings.Contains(err.Error(), "in use by a running rivulet (stop it first, or copy data_dir)") {
			t.Errorf("%v: exit %d, err %v, stdout %q", args, code, err, stdout)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("replay created %s while refusing: %v", out, err)
	}
}

func TestInspectUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to inspect", []string{"inspect"}, "say what to inspect"},
		{"unknown target", []string{"inspect", "disk", "--config", "x.yaml"}, "say what to inspect"},
		{"no config", []string{"inspect", "wal"}, "--config FILE is required"},
		{"replay without --to", []string{"replay", "--config", "x.yaml"}, "--to FILE is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut, _ := runCmd(tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

// TestInspectCompressedLog lists a log whose batches are compressed
// (wal.compression: s2) like a plain one, and sums up what compression saved.
func TestInspectCompressedLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, _, err := wal.Open(dir, wal.Options{Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Repeat([]byte("temperature,zone=a value=21.5 1700000000000000000\n"), 100)
	appendEntries(t, l, []*wal.Entry{{Kind: wal.KindEpoch, IngestTime: 1},
		{Kind: wal.KindBatch, IngestTime: 2, Points: lines}, {Kind: wal.KindBatch, IngestTime: 3, Points: lines[:100]}})
	l.Close()
	var out bytes.Buffer
	if err := inspectWAL(&out, dir, inspectOpts{points: true}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"100       ", "temperature,zone=a value=21.5 1700000000000000000",
		"summary: 3 entries (2 batch, 0 heartbeat, 1 epoch, 0 damaged), 102 points",
		"; 2 entries compressed: 5100 bytes of points in "} {
		if !strings.Contains(got, want) {
			t.Errorf("inspect wal output lacks %q:\n%s", want, got)
		}
	}
}
