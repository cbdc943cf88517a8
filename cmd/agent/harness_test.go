package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
	"github.com/rivulet-edge/rivulet/point"
)

// binary is the rivulet executable built once for the subprocess tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rivulet-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rivulet")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rivulet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a rivulet subprocess with its output captured.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startAgent runs `rivulet run --config cfg`; the process is killed at the
// end of the test if still running.
func startAgent(t *testing.T, cfg string, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, "run", "--config", cfg), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
		t.Fatalf("rivulet did not stop within 15s after SIGTERM\n%s", p.output())
	}
	if p.err != nil {
		t.Fatalf("rivulet exited with %v\n%s", p.err, p.output())
	}
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = ingesttest.WaitFor

// reading is one published sensor value.
type reading struct {
	zone, sensor string
	value        float64
	ts           int64
}

// agg is an independently computed window aggregate.
type agg struct {
	count         int64
	sum, min, max float64
}

// expected computes tumbling-window count/mean/min/max per zone and sensor
// with a plain loop, as the oracle for the pipeline's results.
func expected(rs []reading, size time.Duration, measurement string) map[string]agg {
	out := map[string]agg{}
	for _, r := range rs {
		start := r.ts - r.ts%int64(size)
		id := fmt.Sprintf("%s,sensor=%s,site=test,zone=%s %d", measurement, r.sensor, r.zone, start)
		a, ok := out[id]
		if !ok {
			a = agg{min: math.Inf(1), max: math.Inf(-1)}
		}
		a.count++
		a.sum += r.value
		a.min = math.Min(a.min, r.value)
		a.max = math.Max(a.max, r.value)
		out[id] = a
	}
	return out
}

// results reads a file sink's output (and its rotations) into identity →
// fields, failing if two deliveries of one identity differ: a repeat after a
// crash must be byte-identical, because replay is deterministic.
func results(t *testing.T, path string) map[string]map[string]float64 {
	t.Helper()
	files, _ := filepath.Glob(path + ".*")
	sort.Sort(sort.Reverse(sort.StringSlice(files)))
	files = append(files, path)
	out := map[string]map[string]float64{}
	lines := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			err := point.Parse([]byte(line), func(p *point.Point) error {
				id := identity(p)
				if prev, ok := lines[id]; ok && prev != line {
					t.Errorf("identity %s delivered with different values:\n  %s\n  %s", id, prev, line)
				}
				lines[id] = line
				fields := map[string]float64{}
				for _, f := range p.Fields {
					fields[f.Key], _ = point.Float(f.Value)
				}
				out[id] = fields
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %q: %v", f, line, err)
			}
		}
	}
	return out
}

func identity(p *point.Point) string {
	var b strings.Builder
	b.WriteString(p.Measurement)
	for _, tg := range p.Tags {
		fmt.Fprintf(&b, ",%s=%s", tg.Key, tg.Value)
	}
	fmt.Fprintf(&b, " %d", p.Time)
	return b.String()
}

// compare checks results against the oracle exactly for count, min, max and
// to 1e-9 relative for the mean (summation order may differ).
func compare(t *testing.T, got map[string]map[string]float64, want map[string]agg) {
	t.Helper()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("missing result %s (want count %d)", id, w.count)
			continue
		}
		mean := w.sum / float64(w.count)
		if g["value_count"] != float64(w.count) || g["value_min"] != w.min || g["value_max"] != w.max ||
			math.Abs(g["value_mean"]-mean) > 1e-9*math.Max(1, math.Abs(mean)) {
			t.Errorf("%s: got count=%v mean=%v min=%v max=%v, want count=%d mean=%v min=%v max=%v",
				id, g["value_count"], g["value_mean"], g["value_min"], g["value_max"], w.count, mean, w.min, w.max)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected result %s", id)
		}
	}
}
