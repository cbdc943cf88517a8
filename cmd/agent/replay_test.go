package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/point"
	"github.com/rivulet-edge/rivulet/wal"
)

// logDataDir is a data_dir holding only an ingest log of rs (and the LOCK
// file), as an agent that never checkpointed leaves it.
func logDataDir(t *testing.T, rs []reading) *dataDir {
	t.Helper()
	root := t.TempDir()
	d := &dataDir{cfg: siteConfig(t, root, "tcp://127.0.0.1:1", "", ""), dir: filepath.Join(root, "data"),
		entries: logEntries(rs, 40)}
	l, _, err := wal.Open(filepath.Join(d.dir, dirLog), wal.Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	appendEntries(t, l, d.entries)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, lockFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// readingsIn returns the readings in entries from..to, leaving out the
// indexes in skip: what the oracle must see.
func (d *dataDir) readingsIn(t *testing.T, from, to uint64, skip uint64) []reading {
	t.Helper()
	var rs []reading
	for i := from; i <= to; i++ {
		if i == skip {
			continue
		}
		err := point.Parse(d.entries[i-1].Points, func(p *point.Point) error {
			zone, _ := p.Tag("zone")
			sensor, _ := p.Tag("sensor")
			v, _ := point.Float(p.Fields[0].Value)
			rs = append(rs, reading{zone: zone, sensor: sensor, value: v, ts: p.Time})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

// withWindow rewrites the test config's step to windows of size (e.g. "2s"),
// named temp_<size>: a pipeline that never ran over this log.
func withWindow(t *testing.T, cfg, size string) string {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "name: temp_1s", "name: temp_"+size, 1)
	s = strings.Replace(s, "size: 1s", "size: "+size, 1)
	path := filepath.Join(t.TempDir(), "site-"+size+".yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var openSeries = regexp.MustCompile(`\((\d+) series\)`)

// TestReplay replays logs through the pipeline and compares the results
// with the oracle over the entries replayed.
func TestReplay(t *testing.T) {
	rs := readings(2, 2, 400, 5)
	tests := []struct {
		name   string
		agent  bool   // a data_dir the engine checkpointed (log truncated)
		size   string // window size of the pipeline; 1s ran when the log was written
		from   uint64
		flush  bool
		damage bool // flip a bit in a batch record
	}{
		{name: "whole log, flush", size: "1s", flush: true},
		{name: "new pipeline of 2s windows", size: "2s", flush: true},
		{name: "without flush", size: "1s"},
		{name: "from an index", size: "1s", from: 20, flush: true},
		{name: "damaged record skipped", size: "1s", flush: true, damage: true},
		{name: "truncated by checkpoints", agent: true, size: "1s", flush: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d *dataDir
			if tc.agent {
				d = buildDataDir(t, rs)
			} else {
				d = logDataDir(t, rs)
			}
			last := uint64(len(d.entries))
			v, err := wal.OpenView(filepath.Join(d.dir, dirLog))
			if err != nil {
				t.Fatal(err)
			}
			first := max(v.FirstIndex(), tc.from)
			var bad uint64
			if tc.damage {
				bad = flipRecord(t, filepath.Join(d.dir, dirLog), func(i uint64) bool { return d.entries[i-1].Kind == wal.KindBatch })
			}
			cfg := d.cfg
			if tc.size != "1s" {
				cfg = withWindow(t, cfg, tc.size)
			}
			out := filepath.Join(t.TempDir(), "replay.lp")
			args := []string{"replay", "--config", cfg, "--to", out, "--from", fmt.Sprint(tc.from)}
			if tc.flush {
				args = append(args, "--flush")
			}
			before := treeFiles(t, d.dir)
			code, _, stderr, err := runCmd(args...)
			sameTree(t, d.dir, before)
			if code != 0 {
				t.Fatalf("exit %d: %v\n%s", code, err, stderr)
			}
			if want := fmt.Sprintf("replaying ingest log entries %d..%d (the log retains %d..%d)", first, last, v.FirstIndex(), last); !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			if tc.damage && !strings.Contains(stderr, "1 damaged") {
				t.Errorf("stderr does not count the damaged record:\n%s", stderr)
			}
			size, _ := time.ParseDuration(tc.size)
			want := expected(d.readingsIn(t, first, last, bad), size, "temp_"+tc.size)
			got := results(t, out)
			if !tc.flush {
				m := openSeries.FindStringSubmatch(stderr)
				if m == nil {
					t.Fatalf("stderr does not say how many series stayed open:\n%s", stderr)
				}
				open, _ := strconv.Atoi(m[1])
				if open == 0 || len(got)+open != len(want) {
					t.Fatalf("%d results + %d open series, want %d windows", len(got), open, len(want))
				}
				for id := range want {
					if _, ok := got[id]; !ok {
						delete(want, id)
					}
				}
			}
			compare(t, got, want)
			if t.Failed() {
				t.Logf("stderr:\n%s", stderr)
			}
		})
	}
}

// TestReplayStdout writes the results to stdout with --to -.
func TestReplayStdout(t *testing.T) {
	d := logDataDir(t, readings(1, 1, 300, 3))
	code, stdout, stderr, err := runCmd("replay", "--config", d.cfg, "--to", "-")
	if code != 0 || !strings.HasPrefix(stdout, "temp_1s,sensor=s0,site=test,zone=z0 value_count=100i,") {
		t.Fatalf("exit %d (%v), stdout %q\nstderr %s", code, err, stdout, stderr)
	}
	if !strings.Contains(stderr, "results written to -") {
		t.Fatalf("stderr %s", stderr)
	}
}
