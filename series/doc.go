// Package series holds the stateful per-series operators of a pipeline step
// — Spark Streaming's updateStateByKey and mapWithState on a gateway: rate,
// derivative, delta, ewma, moving_average, cumulative_sum, state_duration,
// on_change and no_data.
//
// A series is a measurement with its full, sorted tag set. An Op keeps O(1)
// state per series and processed field (moving_average: Points values),
// drops a series that has had no data for TTL of processing time (counted
// from its last data or the last Epoch, whichever is later), and holds
// at most MaxSeries series: the points of further new series are refused
// and counted (Dropped). A point is data for its series only when it
// carries a processed field (Config.Fields, or any numeric field when none
// are listed) with a finite value; other points are ignored. Without
// Fields, at most 4096 distinct field names are tracked; later ones are
// ignored.
//
// Results have measurement = the step name, the tags of the series, time =
// the event time t of the input point, and fields:
//
//	rate            <field>_rate            change per second
//	derivative      <field>_derivative      change per Unit
//	delta           <field>_delta           change
//	ewma            <field>_ewma            alpha·v + (1−alpha)·previous; the first value as is
//	moving_average  <field>_moving_average  mean of the last Points values
//	cumulative_sum  <field>_cumulative_sum  sum of all values
//	state_duration  state ("above" when v > Threshold, else "below") and
//	                state_duration (seconds since the first point of the
//	                current state)
//	on_change       the input point's fields as they are, when a processed
//	                value differs from the previous one of its field or the
//	                field is new to the series (so a series' first point)
//
// rate, derivative and delta emit from a series' second point on. With
// Counter, a decrease is a counter reset: the change is the new value
// (at least 0), never negative. These three and state_duration need the
// points of a series in event-time order: a point whose t is not after the
// previous one (state_duration: is before it) is skipped and counted
// (OutOfOrder). The others fold points in arrival order. A result that is
// not finite (a sum that overflowed) is left out of the point.
//
// no_data reports a series when its silence — processing time since its
// last data or since the last Epoch, whichever is later — reaches After:
// one point with the tags of the series plus tag measurement = the input
// measurement (replacing a tag of that name), field silent_s = seconds since its last data (downtime
// included), and time = the processing time at which the silence reached
// After. It reports each silence once. When data returns, a recovery point
// with the same tags, silent_s = 0 and time = the processing time of that
// data follows. A series that TTL drops is forgotten: its return is a new
// series and brings no recovery, so set a TTL well above After (or 0).
//
// Determinism: an Op runs on the times passed in only, never the clock;
// Advance reports due series in order of report time, then measurement and
// tags, and costs O(1) when nothing is due: the series are kept in a list
// by last data, so only its front is ever due. MarshalJSON checkpoints all state and
// counters; UnmarshalJSON into an Op built from the same Config continues
// with exactly the output the uninterrupted Op would have produced.
//
// An Op is not safe for concurrent use. The points passed to emit are
// scratch of the Op: valid only during the call.
package series
