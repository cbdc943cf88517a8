// Package ops holds the operators the pipeline steps are made of.
//
// Aggregates: a Plan compiled from a step's aggregate list folds points
// into a Group (one per window, or pane, and group of series): count, sum,
// mean, min, max, first, last, spread, stddev and variance (Welford, merged
// with Chan et al.'s formula), percentiles by DDSketch (1% relative error,
// bounded bins), rate, integral, distinct (exact, then HyperLogLog) and
// top-k of a tag (exact, then Space-Saving). Every aggregate is
// incremental, bounded in memory, mergeable (so hopping windows merge
// panes), and a pure function of the values and event times fed in.
//
// Detectors: per-series anomaly detectors (Threshold with hysteresis,
// windowed ZScore, EWMA z-score, MAD, Rate, Stuck, Bounds, and the default
// Anomaly that needs no tuning) that score each point in [0,1] with a
// level, and Alert, the ok → warn → crit state machine with minimum
// duration, cooldown and flapping suppression that turns levels into state
// changes. All allocate nothing per point, never read the clock, and keep
// their state in exported fields with json tags so that it can be
// checkpointed and restored mid-alert.
package ops
