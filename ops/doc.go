// Package ops holds the operators the pipeline steps are made of. This
// version has the incremental aggregates of a window: count, sum, mean,
// min, max, first and last, each O(1) in memory per field, window and group,
// and each a pure function of the values and event times fed in, in order.
package ops
