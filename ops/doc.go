// Package ops holds the operators the pipeline steps are made of.
//
// Aggregates: the incremental aggregates of a window (count, sum, mean,
// min, max, first, last), each O(1) in memory per field, window and group,
// and each a pure function of the values and event times fed in, in order.
//
// Detectors: per-series anomaly detectors (Threshold with hysteresis, EWMA
// z-score, Rate, Stuck, Bounds, and the default Anomaly that needs no
// tuning) that score each point in [0,1] with a level, and Alert, the
// ok → warn → crit state machine with minimum duration, cooldown and
// flapping suppression that turns levels into state changes. All are O(1)
// in memory and time per point, allocate nothing per point, never read the
// clock, and keep their state in exported fields with json tags so that it
// can be checkpointed and restored mid-alert.
package ops
