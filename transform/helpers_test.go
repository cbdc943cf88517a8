package transform

import (
	"strings"
	"testing"

	"github.com/rivulet-edge/rivulet/point"
)

// mustParse decodes newline-separated line protocol into owned points.
func mustParse(tb testing.TB, lp string) []point.Point {
	tb.Helper()
	var pts []point.Point
	err := point.Parse([]byte(lp), func(p *point.Point) error {
		pts = append(pts, p.Clone())
		return nil
	})
	if err != nil {
		tb.Fatalf("parse %q: %v", lp, err)
	}
	return pts
}

// run applies pr to each point of lp and returns the emitted lines and the
// errors as strings.
func run(tb testing.TB, pr *Program, lp string) (lines []string, errs []string) {
	tb.Helper()
	for _, p := range mustParse(tb, lp) {
		before := p.String()
		err := pr.Apply(&p, func(out *point.Point) { lines = append(lines, out.String()) })
		if err != nil {
			errs = append(errs, err.Error())
		}
		if after := p.String(); after != before {
			tb.Fatalf("Apply modified its input: %s -> %s", before, after)
		}
	}
	return lines, errs
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }
