package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/rivulet-edge/rivulet/ops"
)

// candidate is one detector setting the held-out check may choose.
type candidate struct {
	Name string
	D    ops.Anomaly
}

// grid returns the settings the held-out check chooses among: the defaults
// and their neighbours in the three settings that matter most.
func grid() []candidate {
	var out []candidate
	for _, e := range []int{8, 16, 24} {
		for _, kw := range []float64{1.5, 2, 2.5} {
			for _, c := range []float64{4, 6} {
				d := ops.DefaultAnomaly()
				d.Embed, d.KNNW, d.ClipZ = e, kw, c
				out = append(out, candidate{fmt.Sprintf("embed=%d knn_w=%.1f clip_z=%.0f", e, kw, c), d})
			}
		}
	}
	return out
}

// outcome is the scores of one candidate on a set of series.
type outcome struct {
	raw, rawDef float64 // raw score at the chosen threshold and at the default
	th          float64
}

// evaluate runs d over set and returns the raw scores at threshold th (or,
// if th is 0, at the threshold that maximises them) and at the default.
func evaluate(set []*series, d ops.Anomaly, th float64) outcome {
	for _, s := range set {
		s.apply(d)
	}
	if th == 0 {
		th = optimise(set)
	}
	o := outcome{th: th}
	for _, s := range set {
		o.raw += atThreshold(s, th).Raw
		o.rawDef += atDefault(s).Raw
	}
	return o
}

// heldOut tunes the setting and threshold on train and scores test with
// them, returning the test raw scores and the chosen candidate.
func heldOut(train, test []*series, cands []candidate) (outcome, candidate) {
	best, bestRaw, bestTh := 0, 0.0, 0.0
	for i, c := range cands {
		o := evaluate(train, c.D, 0)
		if i == 0 || o.raw > bestRaw {
			best, bestRaw, bestTh = i, o.raw, o.th
		}
	}
	return evaluate(test, cands[best].D, bestTh), cands[best]
}

// folds prints two held-out checks: a 2-fold split (alternate series of
// each family) and leave-one-family-out. Each part is scored with the
// setting and threshold that scored best on the other part.
func folds(out io.Writer, all []*series) {
	cands := grid()
	var a, b []*series
	count := map[string]int{}
	for _, s := range all {
		if count[s.Family]%2 == 0 {
			a = append(a, s)
		} else {
			b = append(b, s)
		}
		count[s.Family]++
	}
	fmt.Fprintf(out, "Held-out check: %d candidate settings (embed × knn_w × clip_z), each with its best threshold.\n\n", len(cands))
	fmt.Fprintln(out, "| held out | tuned on | chosen setting | threshold | NAB held out (tuned threshold) | NAB held out (default threshold) |\n|---|---|---|---:|---:|---:|")
	var tot outcome
	wins := 0
	row := func(name, on string, train, test []*series) {
		o, c := heldOut(train, test, cands)
		w := countWins(test)
		tot.raw += o.raw
		tot.rawDef += o.rawDef
		wins += w
		fmt.Fprintf(out, "| %s | %s | %s | %.3f | %.1f | %.1f |\n", name, on, c.Name, o.th,
			normalise(o.raw, w, standard), normalise(o.rawDef, w, standard))
	}
	row("fold A", "fold B", b, a)
	row("fold B", "fold A", a, b)
	fmt.Fprintf(out, "| **2-fold total** | | | | %.1f | %.1f |\n", normalise(tot.raw, wins, standard), normalise(tot.rawDef, wins, standard))
	tot, wins = outcome{}, 0
	fams := make([]string, 0, len(count))
	for f := range count {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	for _, f := range fams {
		var train, test []*series
		for _, s := range all {
			if s.Family == f {
				test = append(test, s)
			} else {
				train = append(train, s)
			}
		}
		row(f, "the other families", train, test)
	}
	fmt.Fprintf(out, "| **leave-one-family-out total** | | | | %.1f | %.1f |\n", normalise(tot.raw, wins, standard), normalise(tot.rawDef, wins, standard))
}

func countWins(set []*series) int {
	n := 0
	for _, s := range set {
		n += len(s.Wins)
	}
	return n
}
