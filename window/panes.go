package window

import "time"

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

// wallStart returns the start of the local window holding t and its
// wall-clock slot: local midnight plus k·Size of wall-clock time.
func (g Grid) wallStart(t int64) int64 {
	lt := time.Unix(0, t).In(g.loc)
	y, m, d := lt.Date()
	wall := int64(lt.Hour())*int64(time.Hour) + int64(lt.Minute())*int64(time.Minute) +
		int64(lt.Second())*int64(time.Second) + int64(lt.Nanosecond())
	start := time.Date(y, m, d, 0, 0, 0, int(floorTo(wall, g.Size, 0)), g.loc).UnixNano()
	return min(start, t) // a repeated hour can map back to its first instance
}

// PaneStart returns the start of the pane that holds t.
func (g Grid) PaneStart(t int64) int64 {
	if g.loc != nil {
		return g.wallStart(t)
	}
	return floorTo(t, g.Pane, g.Offset)
}

// End returns the exclusive end of the window (or pane) starting at start.
func (g Grid) End(start int64) int64 {
	if g.loc != nil {
		lt := time.Unix(0, start).In(g.loc)
		y, m, d := lt.Date()
		wall := int64(lt.Hour())*int64(time.Hour) + int64(lt.Minute())*int64(time.Minute) +
			int64(lt.Second())*int64(time.Second) + int64(lt.Nanosecond())
		end := time.Date(y, m, d, 0, 0, 0, int(floorTo(wall, g.Size, 0)+g.Size), g.loc).UnixNano()
		return max(end, start+int64(time.Hour)) // never empty, even across a clock change
	}
	return start + g.Size
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
