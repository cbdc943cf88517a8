// Package window assigns points to event-time windows, tracks watermarks and
// keeps keyed window state until a window fires.
//
// Nothing here reads the wall clock: event time comes from the points and
// processing time from the ingest log, so the same log gives the same
// windows, in the same order, on every replay.
package window
