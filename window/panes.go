package window

import (
	"math"
	"time"
)

// Grid places tumbling and hopping windows in event time. Windows start on
// the grid k·Slide + Offset and last Size; each is made of panes of
// gcd(Size, Slide), so that a point is added to one pane however many
// windows overlap it, and a window's result merges its panes. A tumbling
// window is a hopping window whose slide is its size: one pane per window.
//
// With a time zone (tumbling only) windows follow the local wall clock:
// they start at local midnight plus a multiple of Size in wall-clock time,
// so a day has 23, 24 or 25 hours and a window that spans a daylight-saving
// change is an hour shorter or longer.
type Grid struct {
	Size, Slide, Pane, Offset int64
	loc                       *time.Location
}

// NewGrid returns the grid of a tumbling or hopping window config. The
// config must be valid.
func NewGrid(c Config) Grid {
	g := Grid{Size: int64(c.Size), Slide: int64(c.Size), Offset: int64(c.Offset)}
	if c.Kind() == KindHopping {
		g.Slide = int64(c.Slide)
	}
	g.Pane = int64(gcd(time.Duration(g.Size), time.Duration(g.Slide)))
	if c.TimeZone != "" {
		g.loc, _ = time.LoadLocation(c.TimeZone) // checked by Validate
	}
	return g
}

// floorTo rounds t down to the grid of step d shifted by off, toward minus
// infinity.
func floorTo(t, d, off int64) int64 {
	x := t - off
	r := x % d
	if r < 0 {
		r += d
	}
	return x - r + off
}

const day = int64(24 * time.Hour)

// boundary returns the first instant at which the local wall clock of the
// local day y-m-d reaches x (ns after midnight, 0 <= x <= 24h); inside a
// gap (clocks going forward) it is the first instant after the gap. When
// an hour repeats (clocks going back) it is the first instance, so the
// window holding the repeated hour lasts an hour longer.
func (g Grid) boundary(y int, m time.Month, d int, x int64) int64 {
	if x >= day {
		y, m, d = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Date()
		x -= day
	}
	wall := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixNano() + x // the wall time read as UTC
	off := func(u int64) int64 {
		_, o := time.Unix(0, u).In(g.loc).Zone()
		return int64(o) * int64(time.Second)
	}
	guess := wall - off(wall)
	best, minOff := int64(math.MaxInt64), int64(math.MaxInt64)
	for _, probe := range []int64{guess - 3*int64(time.Hour), guess, guess + 3*int64(time.Hour)} {
		o := off(probe)
		minOff = min(minOff, o)
		if u := wall - o; off(u) == o {
			best = min(best, u)
		}
	}
	if best == math.MaxInt64 { // in a gap: the transition that ends it
		start, _ := time.Unix(0, wall-minOff).In(g.loc).ZoneBounds()
		best = start.UnixNano()
	}
	return best
}

// slot returns t's local date and the index of its wall-clock slot.
func (g Grid) slot(t int64) (int, time.Month, int, int64) {
	lt := time.Unix(0, t).In(g.loc)
	y, m, d := lt.Date()
	wall := int64(lt.Hour())*int64(time.Hour) + int64(lt.Minute())*int64(time.Minute) +
		int64(lt.Second())*int64(time.Second) + int64(lt.Nanosecond())
	return y, m, d, wall / g.Size
}

// PaneStart returns the start of the pane that holds t.
func (g Grid) PaneStart(t int64) int64 {
	if g.loc == nil {
		return floorTo(t, g.Pane, g.Offset)
	}
	// The latest slot boundary of t's local day at or before t (in a
	// repeated hour the wall clock goes back, so look ahead too).
	y, m, d, k := g.slot(t)
	start := g.boundary(y, m, d, k*g.Size)
	for (k+1)*g.Size < day {
		next := g.boundary(y, m, d, (k+1)*g.Size)
		if next > t {
			break
		}
		start, k = next, k+1
	}
	return start
}

// End returns the exclusive end of the window (or pane) starting at start.
func (g Grid) End(start int64) int64 {
	if g.loc == nil {
		return start + g.Size
	}
	y, m, d, k := g.slot(start)
	return g.boundary(y, m, d, (k+1)*g.Size)
}

// PaneEnd returns the exclusive end of the pane starting at start.
func (g Grid) PaneEnd(start int64) int64 {
	if g.loc != nil {
		return g.End(start)
	}
	return start + g.Pane
}

// Windows returns the starts of the first and the last window that hold
// the pane starting at ps; the windows in between are Slide apart.
func (g Grid) Windows(ps int64) (first, last int64) {
	if g.loc != nil || g.Slide == g.Size {
		return ps, ps
	}
	// The first window starts at the smallest grid point above ps − Size.
	return floorTo(ps-g.Size, g.Slide, g.Offset) + g.Slide, floorTo(ps, g.Slide, g.Offset)
}

// Next returns the start of the window after the one starting at start.
func (g Grid) Next(start int64) int64 {
	if g.loc != nil {
		return g.End(start)
	}
	return start + g.Slide
}
