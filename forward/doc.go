// Package forward delivers results upstream: one Sink per destination
// (InfluxDB 1.x/2.x line protocol over HTTP, a rotated file, stdout) and one
// Runner per sink that drains the sink's durable outbox.
//
// The Runner keeps contract 8 of the design: it reads a batch after the
// outbox's cursor, writes it, and advances the cursor only after the sink
// returned success, so every result is delivered at least once and in
// order. It persists the cursor at most once per commit_interval (default
// 1 s) while deliveries go on, as soon as they pause or fail after that,
// and at shutdown, each time after syncing a sink that buffers (the file
// sink); after a power loss, what was delivered since the last save is
// delivered again. Results carry deterministic identities (measurement,
// tags, window time), so a repeated write to InfluxDB overwrites the same
// point.
//
// Sinks classify failures and the Runner acts on the class:
//
//   - *RetryableError (network errors, timeouts, 5xx, 429): the same batch
//     is retried after an exponential backoff with full jitter, never
//     sooner than the upstream's Retry-After. Nothing overtakes it.
//   - *PermanentError (4xx but 429): the batch is appended to the sink's
//     dead-letter file, the reason to <dead-letter>.reasons as a JSON line,
//     and the cursor moves on.
//   - any other error is treated as retryable.
//
// A failing outbox (Next, Advance or Save) is retried with the same
// backoff; a failed Advance or Save is retried on its own, without sending
// the batch again.
// Only an outbox closed under a running Runner ends Run with an error.
//
// Sinks stay small: batching, retry, dead-lettering, counting and
// rate-limited logging belong to the Runner. Secrets (token_file,
// password_file) are read once by New and never logged.
package forward
