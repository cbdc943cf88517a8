package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/rivulet-edge/rivulet/ops"
)

// sum accumulates tallies of several series.
type sum struct {
	raw                       float64
	wins, det, fp, points, nE int
	early                     float64
}

func (s *sum) add(t tally) {
	s.raw += t.Raw
	s.wins += t.Windows
	s.det += t.Detected
	s.fp += t.FP
	s.points += t.Points
	for _, e := range t.Early {
		s.early += e
		s.nE++
	}
}

func (s *sum) row(name string, opt float64) string {
	early := "–"
	if s.nE > 0 {
		early = fmt.Sprintf("%.2f", s.early/float64(s.nE))
	}
	return fmt.Sprintf("| %s | %d | %d/%d | %s | %.2f | %.1f | %.1f |", name, s.points, s.det, s.wins,
		early, 1000*float64(s.fp)/float64(s.points), normalise(s.raw, s.wins, standard), opt)
}

const header = "| %s | points | windows detected | mean fraction of window elapsed | false alerts / 1000 points | NAB (default) | NAB (optimised) |\n|---|---:|---:|---:|---:|---:|---:|\n"

func report(out io.Writer, all []*series) {
	th := optimise(all)
	fams := map[string]*[2]sum{}
	var total [2]sum
	fmt.Fprintf(out, "Command: `go run ./scripts/nab -data ../shared/data/nab`\n\n")
	fmt.Fprintf(out, "Default detector (ops.DefaultAnomaly) with ops.DefaultAlertConfig. NAB (default): its warn level %.2f;\n", ops.DefaultAnomaly().Warn)
	fmt.Fprintf(out, "NAB (optimised): warn level %.3f, the best for all series together (crit moved by as much).\n\n", th)
	fmt.Fprintf(out, header, "series")
	for _, s := range all {
		d, o := atDefault(s), atThreshold(s, th)
		if fams[s.Family] == nil {
			fams[s.Family] = &[2]sum{}
		}
		f := fams[s.Family]
		f[0].add(d)
		f[1].add(o)
		total[0].add(d)
		total[1].add(o)
		var one, two sum
		one.add(d)
		two.add(o)
		fmt.Fprintln(out, one.row(s.Name, normalise(two.raw, two.wins, standard)))
	}
	fmt.Fprintf(out, "\n"+header, "family")
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := fams[n]
		fmt.Fprintln(out, f[0].row(n, normalise(f[1].raw, f[1].wins, standard)))
	}
	fmt.Fprintln(out, total[0].row("**total**", normalise(total[1].raw, total[1].wins, standard)))
}
