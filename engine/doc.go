// Package engine follows the ingest log in index order, runs the pipeline
// steps over it and appends their results to one outbox per sink.
//
// The engine is a pure function of (checkpoint, log entries after it): it
// never reads the wall clock for anything that reaches a result. Event time
// comes from the points, processing time from the ingest time recorded in
// each entry, so a replay after a crash produces byte-identical results.
//
// Exactly-once into the outbox: every result is tagged with the index of the
// log entry whose processing produced it, and is appended to a sink's outbox
// only when that index is above the outbox's high-water mark. A checkpoint is
// written only after every result up to its index is in the outboxes, and
// the log is truncated only below the oldest retained checkpoint.
package engine
