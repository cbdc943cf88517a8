// Package detect runs anomaly detection rules over series on the device.
//
// A rule is the `detect` block of a pipeline step (Config): one detector
// from package ops (threshold with hysteresis, windowed z-score, EWMA,
// median/MAD, rate of change, stuck value, physical bounds, the default
// anomaly detector, or no data), an optional sustain, and the ops.Alert
// state machine. Op keeps the state of one series per measurement and tag
// set (the rule's settings are kept once, not per series), and emits
// a point of measurement `alerts` on each change of alert level, recovery
// included. Everything runs on the times it is given (event time for the
// detectors, the log's processing time for no data and state TTL), never
// on the clock, so a replay of the log gives the same alerts, and the full
// state is JSON so that a restore mid-alert neither repeats nor loses a
// transition.
package detect
