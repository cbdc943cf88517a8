// Package wal is rivulet's durable storage: the ingest log, one outbox per
// sink, and the engine's checkpoints. It frames records over
// github.com/tidwall/wal; the byte formats are in FORMAT.md.
//
// # Log
//
// A Log numbers its entries 1, 2, 3, … with no gaps. Append writes a batch
// without syncing; Sync makes everything appended durable (the batcher
// appends, syncs once, then acks: group commit). Append, Read, TruncateFront
// and the accessors are safe for concurrent use; Read may reuse the Entry it
// is given, and Append does not retain its entries.
//
// The Log promises:
//
//   - Every record carries a CRC-32C. Read returns ErrNotFound outside
//     [FirstIndex, LastIndex] and *CorruptionError for a record that fails
//     its checks; that record is copied to the quarantine directory once and
//     counted (Quarantined). Damage never shifts the index of another entry.
//   - Open repairs instead of failing: it cuts a torn, zeroed or garbage tail
//     back to the last record that decodes, keeps damaged records that lie
//     before it (quarantined), saves the cut bytes to quarantine unless they
//     are zeros, and reports exactly what it did in a Repair. It never
//     deletes a segment holding data and never asks a person to delete
//     files. Only I/O failures are errors.
//   - Indexes never go back: TruncateFront never drops the last entry, and a
//     log that repair cut to nothing continues at the next index.
//   - The log never drops entries to make room. Full reports the size cap;
//     callers hold their sources (backpressure).
//
// # Outbox
//
// An Outbox is a Log of results plus a cursor file. The engine appends the
// result of each ingest index above HighWater (exactly-once into the
// outbox); the sink reads with Next from the cursor, moves it in memory with
// Advance and persists it with Save at the pace it chooses, or both at once
// with Commit (at-least-once out: what was advanced but not saved is read
// again after a restart). HighWater survives delivery and restarts.
//
// # Checkpoints
//
// Checkpoints are written atomically (WriteFileAtomic: temp file, fsync,
// rename, fsync of the directory). The newest two valid ones are kept; a
// damaged newest one is quarantined and the older one is used. The ingest
// log may be truncated only below Floor.
//
// # Views
//
// OpenView, OutboxView, ListCheckpoints and ReadCheckpoint read what is on
// disk without tidwall and without writing a byte: damage is reported along
// with what the next Open would cut, and nothing is repaired or
// quarantined. They are for inspection and replay while no agent runs.
//
// Files are created 0600 and directories 0700.
package wal
