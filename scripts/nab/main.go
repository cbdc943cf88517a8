// Command nab runs rivulet's default anomaly detector and alert state
// machine over the Numenta Anomaly Benchmark series and prints the NAB score
// (standard profile), windows detected, how early and false alerts per 1000
// points, per series, per family and in total, at the detector's default
// warn level and at the one warn level that is best for all series.
//
//	go run ./scripts/nab -data ../shared/data/nab
//
// With -folds it also prints held-out checks: settings and threshold are
// chosen on some series and scored on the others (2-fold and
// leave-one-family-out); see folds.go.
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/rivulet-edge/rivulet/ops"
)

const layout = "2006-01-02 15:04:05"

// series is one NAB series with its detector output.
type series struct {
	Name   string // family/file.csv
	Family string
	N      int
	Wins   []window
	Times  []int64
	Values []float64
	Scores []float64
	Levels []ops.Level
}

// apply runs a fresh copy of detector d over s and keeps its output.
func (s *series) apply(d ops.Anomaly) {
	s.Scores, s.Levels = s.Scores[:0], s.Levels[:0]
	for i, v := range s.Values {
		res := d.Step(v, s.Times[i])
		s.Scores = append(s.Scores, res.Score)
		s.Levels = append(s.Levels, res.Level)
	}
}

func main() {
	dir := flag.String("data", "../shared/data/nab", "NAB directory holding data/ and combined_windows.json")
	heldOut := flag.Bool("folds", false, "also print the held-out checks (2-fold and leave-one-family-out)")
	flag.Parse()
	if err := run(*dir, *heldOut, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nab:", err)
		os.Exit(1)
	}
}

func run(dir string, heldOut bool, out io.Writer) error {
	labels, err := readLabels(filepath.Join(dir, "combined_windows.json"))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names)
	var all []*series
	for _, name := range names {
		s, err := load(dir, name, labels[name])
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		s.apply(ops.DefaultAnomaly())
		all = append(all, s)
	}
	report(out, all)
	if heldOut {
		fmt.Fprintln(out)
		folds(out, all)
	}
	return nil
}

func readLabels(path string) (map[string][][2]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string][][2]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

// load reads one series, maps its windows to indices and runs the detector.
func load(dir, name string, labels [][2]string) (*series, error) {
	f, err := os.Open(filepath.Join(dir, "data", name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	ts := make([]int64, 0, len(rows))
	s := &series{Name: name, Family: filepath.Dir(name)}
	for _, r := range rows[1:] {
		t, err1 := time.Parse(layout, r[0])
		v, err2 := strconv.ParseFloat(r[1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad row %q", name, r)
		}
		ts = append(ts, t.UnixNano())
		s.Values = append(s.Values, v)
	}
	s.N, s.Times = len(ts), ts
	for _, l := range labels {
		lo, err1 := time.Parse(layout, l[0])
		hi, err2 := time.Parse(layout, l[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad window %q", name, l)
		}
		a := sort.Search(len(ts), func(i int) bool { return ts[i] >= lo.UnixNano() })
		b := sort.Search(len(ts), func(i int) bool { return ts[i] > hi.UnixNano() }) - 1
		if a <= b {
			s.Wins = append(s.Wins, window{Lo: a, Hi: b})
		}
	}
	return s, nil
}

// detect runs the alert state machine over levels and returns the indices
// where an alert is raised.
func detect(levels func(i int) ops.Level, n int) []int {
	a := ops.Alert{Config: ops.DefaultAlertConfig()}
	var det []int
	for i := range n {
		if tr := a.Step(levels(i), int64(i)); tr != nil && tr.From == ops.OK {
			det = append(det, i)
		}
	}
	return det
}

func atDefault(s *series) tally {
	return score(s.N, s.Wins, detect(func(i int) ops.Level { return s.Levels[i] }, s.N), standard)
}

// atThreshold scores s with the warn level moved to th and the crit level
// moved by as much, so at the default warn level it equals atDefault.
func atThreshold(s *series, th float64) tally {
	d := ops.DefaultAnomaly()
	crit := th + d.Crit - d.Warn
	lv := func(i int) ops.Level {
		switch {
		case s.Scores[i] >= crit:
			return ops.Crit
		case s.Scores[i] >= th:
			return ops.Warn
		}
		return ops.OK
	}
	return score(s.N, s.Wins, detect(lv, s.N), standard)
}

// optimise returns the score threshold that maximises the total raw score,
// searched on a grid of 0.001 from 0.3 to 0.999.
func optimise(all []*series) float64 {
	best, bestRaw := 1.0, math.Inf(-1)
	for k := 300; k < 1000; k++ {
		th := float64(k) / 1000
		raw := 0.0
		for _, s := range all {
			raw += atThreshold(s, th).Raw
		}
		if raw > bestRaw {
			best, bestRaw = th, raw
		}
	}
	return best
}
