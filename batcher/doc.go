// Package batcher cuts the incoming message stream into micro-batches and
// commits each one to the ingest log with a single write and a single sync
// (group commit), acknowledging its messages to the broker only afterwards,
// in arrival order.
//
// Collecting and committing overlap: while one batch is written and synced,
// the next one is collected, so a slow fsync does not stop the intake. At
// low rates a small batch waits up to linger for more messages, so that
// fewer syncs each cover more of them, but never for a broker that has
// stopped sending until it gets acks (see Config.Linger).
//
// Between the sources and the batcher sits a bounded queue. When it is full
// a QoS 1 source blocks, which backs up into the broker's inflight window;
// a QoS 0 message is dropped and counted. When the stream is idle the
// batcher writes heartbeat entries so that processing time still moves in
// the log, and it writes an epoch entry whenever a source (re)connects so the
// engine never counts downtime or a reconnect as idleness.
package batcher
