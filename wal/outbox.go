package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivulet-edge/rivulet/internal/bufs"
)

// ErrBelowHighWater is returned by Outbox.Append for an ingest index that is
// not above the outbox's high-water mark: its result is already queued or
// delivered.
var ErrBelowHighWater = errors.New("wal: ingest index not above the outbox high-water mark")

// ErrOutboxBroken is returned by Outbox.Append after a write to the log
// failed (a full disk, an I/O error): the outbox takes appends again only
// once reopened.
var ErrOutboxBroken = errors.New("wal: outbox append failed earlier")

// OutEntry is one result queued for a sink.
type OutEntry struct {
	Seq         uint64 // index in the outbox log
	IngestIndex uint64 // ingest log index that produced it
	Points      []byte // newline-terminated line protocol; owned by the caller
	// Appended is when the entry was appended, to the second; it may be
	// early (never late), and entries pending from before the outbox was
	// opened count from the opening.
	Appended time.Time
}

// Outbox is one sink's durable queue: the engine appends results, the sink
// reads them from a persisted cursor and commits what it delivered. Append,
// HighWater, Wait and Backlog may be called from any goroutine while one
// sink goroutine calls Next, Advance, Save, Rewind and Commit.
//
// The cursor has two positions: the delivered one, which Advance moves in
// memory and Next reads after, and the saved one in the cursor file, which
// Save catches up (one atomic file write) at the pace the sink chooses.
// After a crash delivery resumes after the saved position, so entries
// delivered since the last Save are delivered again (at-least-once).
// Delivered entries are reclaimed from the disk only up to the saved
// position.
type Outbox struct {
	log        *Log
	cursorPath string
	segSize    int64

	commitMu    sync.Mutex // serializes cursor moves; guards reclaimAt, reclaimed
	reclaimAt   int64      // Size at which delivered entries are next dropped
	reclaimed   time.Time  // last reclaim of a fully delivered log
	reclaimIdle time.Duration

	// appendMu serializes Append; rec is its encoded record, reused.
	appendMu sync.Mutex
	rec      []byte
	recKeep  bufs.Keeper
	scratch  *scratch // where S2 encodes a record's block

	mu        sync.Mutex
	closed    bool
	cursor    uint64        // delivered through this seq (in memory)
	delivered uint64        // ingest index of the entry at cursor
	saved     uint64        // the cursor in the cursor file
	savedIn   uint64        // the delivered ingest index in the cursor file
	high      uint64        // highest ingest index appended
	notify    chan struct{} // closed and replaced on every Append
	appended  appendTimes   // when the pending entries were appended
	now       func() time.Time
	budgets   []*Budget // caps this outbox counts against
	syncer    func() error
	// broken is a failed log append not yet recovered from. The log
	// reopens itself from its files after a failed write; until that
	// succeeded the outbox refuses appends.
	broken error

	dropped atomic.Uint64 // points dropped by a DropOldest budget
}

// OpenOutbox opens or creates the outbox in dir. Besides the log repair
// (see Open) it reports a damaged cursor file (quarantined; delivery restarts
// at the first entry still in the log) and a cursor past the last entry
// (clamped).
func OpenOutbox(dir string, opts Options) (*Outbox, Repair, error) {
	l, rep, err := Open(dir, opts)
	if err != nil {
		return nil, rep, err
	}
	o := &Outbox{log: l, cursorPath: filepath.Join(dir, "cursor"), segSize: l.opts.SegmentSize,
		notify: make(chan struct{}), now: time.Now, reclaimIdle: reclaimIdleEvery}
	o.scratch = newScratch(o)
	if err := o.load(&rep); err != nil {
		return nil, rep, errors.Join(err, l.Close())
	}
	// Entries pending from before the restart count from now: their append
	// times were never stored.
	o.appended.record(o.cursor+1, o.now())
	return o, rep, nil
}

// load restores cursor and high water from the cursor file and the log.
func (o *Outbox) load(rep *Repair) error {
	cursor, delivered, err := o.readCursor(rep)
	if err != nil {
		return err
	}
	if first := o.log.FirstIndex(); first > 0 {
		cursor = max(cursor, first-1) // entries are dropped only once delivered
	}
	if last := o.log.LastIndex(); cursor > last {
		rep.CursorClamped, rep.CursorFrom, rep.CursorTo = true, cursor, last
		cursor = last
	}
	o.cursor, o.delivered = cursor, delivered
	o.saved, o.savedIn = cursor, delivered
	o.high = max(delivered, o.lastIngest())
	if rep.CursorDamaged || rep.CursorClamped {
		if err := o.writeCursor(cursor, delivered); err != nil {
			return err
		}
	}
	return o.reclaim(cursor)
}

// readCursor reads the cursor file; a missing one means nothing delivered,
// a damaged one is quarantined and read as nothing delivered.
func (o *Outbox) readCursor(rep *Repair) (cursor, delivered uint64, err error) {
	b, err := os.ReadFile(o.cursorPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("wal: outbox cursor: %w", err)
	}
	if cursor, delivered, err = decodeCursor(b); err == nil {
		return cursor, delivered, nil
	}
	rep.CursorDamaged = true
	path, qerr := o.log.q.move(o.cursorPath)
	o.log.opts.Logger.Error("wal: damaged outbox cursor", "path", o.cursorPath, "err", err,
		"copy", path, "quarantine_err", qerr)
	return 0, 0, nil
}

// lastIngest is the ingest index of the newest readable entry, 0 if none.
func (o *Outbox) lastIngest() uint64 {
	var e Entry
	first := o.log.FirstIndex()
	for i := o.log.LastIndex(); first > 0 && i >= first; i-- {
		if o.log.Read(i, &e) == nil && e.Kind == KindResult {
			return uint64(e.IngestTime)
		}
	}
	return 0
}

// Append queues the result of the ingest entry ingestIndex, which must be
// above HighWater; sync makes it durable before returning. points is not
// retained.
//
// When a Budget the outbox belongs to has no room, Append returns an error
// wrapping ErrOutboxFull (policy Block) or first drops the oldest pending
// entries of the budget's members (policy DropOldest).
func (o *Outbox) Append(ingestIndex uint64, points []byte, sync bool) error {
	// The record is encoded first, so that a budget makes room for what it
	// takes on disk: compressed results take a fraction of their size.
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	e := Entry{Kind: KindResult, IngestTime: int64(ingestIndex), Points: points}
	o.rec = encodeEntry(o.rec[:0], &e, o.log.opts.Compress, o.scratch)
	e.record = o.rec
	defer func() { o.rec = o.recKeep.Bytes(o.rec, len(e.record)) }()
	o.mu.Lock()
	budgets := o.budgets
	o.mu.Unlock()
	for _, b := range budgets {
		if err := b.reserve(frameLen(len(e.record))); err != nil {
			return err
		}
	}
	if err := o.append(&e); err != nil {
		return err
	}
	defer o.signal()
	if sync {
		return o.log.Sync()
	}
	return nil
}

func (o *Outbox) append(e *Entry) error {
	ingestIndex := uint64(e.IngestTime)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if o.broken != nil {
		if o.log.failed() {
			return fmt.Errorf("%w: an earlier append failed and the log could not be reopened yet: %w", ErrOutboxBroken, o.broken)
		}
		// The log reopened from its files: what it holds is the truth.
		o.broken = nil
		o.high = max(o.high, o.lastIngest())
	}
	if ingestIndex <= o.high {
		return fmt.Errorf("%w: ingest index %d, high water %d", ErrBelowHighWater, ingestIndex, o.high)
	}
	_, seq, err := o.log.Append(e)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			o.broken = err
		}
		return err
	}
	o.high = ingestIndex
	o.appended.record(seq, o.now())
	return nil
}

func (o *Outbox) signal() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		close(o.notify)
		o.notify = make(chan struct{})
	}
}

// Wait returns a channel that is closed when an entry is appended after the
// call, or when the outbox closes. Call it before Next to miss no wakeup.
func (o *Outbox) Wait() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notify
}

// HighWater is the highest ingest index ever appended. It survives delivery
// and restarts: the log keeps its last entry and the cursor file keeps the
// ingest index of the last delivered one.
func (o *Outbox) HighWater() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.high
}

// Cursor is the seq delivered through; 0 before the first Commit.
func (o *Outbox) Cursor() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cursor
}

// Backlog returns the number of entries after the cursor and the bytes on
// disk the outbox holds (framing included; delivered entries count until
// they are reclaimed), or 0, 0 when nothing is pending.
func (o *Outbox) Backlog() (entries int, bytes int64) {
	cursor, last := o.Cursor(), o.log.LastIndex()
	if last <= cursor {
		return 0, 0
	}
	return int(last - cursor), o.log.Size()
}

// Oldest returns when the oldest entry not yet delivered was appended, to
// the second, or the zero time when nothing is pending. Entries pending
// from before the outbox was opened count from the opening. Once more than
// maxAppendTimes seconds with appends are pending, the times of the older
// ones are thinned out and Oldest may err early (never late) by the gap.
func (o *Outbox) Oldest() time.Time {
	o.mu.Lock()
	cursor := o.cursor
	t := o.appended.oldest(cursor + 1)
	o.mu.Unlock()
	if o.log.LastIndex() <= cursor {
		return time.Time{}
	}
	return t
}

// Full reports whether the outbox has reached Options.MaxSize.
func (o *Outbox) Full() bool { return o.log.Full() }

// Sync makes every appended entry durable.
func (o *Outbox) Sync() error { return o.log.Sync() }

// Close closes the outbox and wakes every Wait channel. Calling it again
// returns nil.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	close(o.notify)
	o.mu.Unlock()
	return o.log.Close()
}

// Next returns the entries after the cursor, in order, without moving it:
// as many as fit in maxPoints lines and maxBytes bytes of points (<= 0: no
// limit), and at least one if any is pending. Damaged entries are skipped
// (the log quarantines them). The Points share the memory of the outbox's
// log, which never changes it (see Log.ReadShared), or for compressed
// records hold memory of their own: they stay valid, and the caller must
// not modify them.
func (o *Outbox) Next(maxPoints, maxBytes int) ([]OutEntry, error) {
	o.mu.Lock()
	closed, cursor := o.closed, o.cursor
	o.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	b := nextBatch{maxPoints: maxPoints, maxBytes: maxBytes}
	var e Entry
	last := o.log.LastIndex()
	for seq := max(cursor+1, o.log.FirstIndex()); seq <= last; seq++ {
		err := o.log.ReadShared(seq, &e)
		if err != nil && !skippable(err) {
			return nil, err
		}
		if err == nil && e.Kind == KindResult {
			if !b.add(seq, &e) {
				break
			}
			if !e.lent {
				// Decompressed into e's own memory, which the batch now
				// holds: the next entry gets memory of its own.
				e.Points = nil
			}
		}
	}
	out := b.entries()
	o.mu.Lock()
	for i := range out {
		out[i].Appended = o.appended.at(out[i].Seq)
	}
	o.mu.Unlock()
	return out, nil
}

// Pending reports whether Next would return an entry: whether a result
// entry that is not damaged follows the cursor. It reads only the
// records' headers, so asking costs no decompression of a window's
// results. A read error other than damage reports false.
func (o *Outbox) Pending() bool {
	o.mu.Lock()
	closed, cursor := o.closed, o.cursor
	o.mu.Unlock()
	if closed {
		return false
	}
	var e Entry
	last := o.log.LastIndex()
	for seq := max(cursor+1, o.log.FirstIndex()); seq <= last; seq++ {
		err := o.log.readHeader(seq, &e)
		switch {
		case err == nil && e.Kind == KindResult:
			return true
		case err != nil && !skippable(err):
			return false
		}
	}
	return false
}

// skippable errors leave an entry out of Next: a damaged record (reported
// and quarantined by the log) or one truncated by a concurrent Commit.
func skippable(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce) || errors.Is(err, ErrNotFound)
}

// nextBatch gathers Next's entries into one fresh buffer.
type nextBatch struct {
	maxPoints, maxBytes int
	out                 []OutEntry
	bytes, points       int
}

// add appends e unless that would exceed a limit and the batch is not empty.
func (b *nextBatch) add(seq uint64, e *Entry) bool {
	n := bytes.Count(e.Points, []byte{'\n'})
	over := (b.maxPoints > 0 && b.points+n > b.maxPoints) ||
		(b.maxBytes > 0 && b.bytes+len(e.Points) > b.maxBytes)
	if over && len(b.out) > 0 {
		return false
	}
	// e.Points is the log's (ReadShared) or, decompressed, the batch's own:
	// kept as it is, with no room to grow into the log's memory.
	b.out = append(b.out, OutEntry{Seq: seq, IngestIndex: uint64(e.IngestTime), Points: e.Points[:len(e.Points):len(e.Points)]})
	b.bytes += len(e.Points)
	b.points += n
	return true
}

func (b *nextBatch) entries() []OutEntry { return b.out }

// Commit records that everything through seq is delivered and saves the
// cursor: Advance then Save.
func (o *Outbox) Commit(seq uint64) error {
	if err := o.Advance(seq); err != nil {
		return err
	}
	return o.Save()
}

// Advance records in memory that everything through seq is delivered: Next
// reads after it from now on, and Backlog no longer counts it. Nothing is
// written; Save persists it. A seq at or below the cursor is a no-op; one
// past the last entry is an error.
func (o *Outbox) Advance(seq uint64) error {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	o.mu.Lock()
	closed, cursor, delivered := o.closed, o.cursor, o.delivered
	o.mu.Unlock()
	switch last := o.log.LastIndex(); {
	case closed:
		return ErrClosed
	case seq <= cursor:
		return nil
	case seq > last:
		return fmt.Errorf("wal: commit %d: past the last entry %d", seq, last)
	}
	var e Entry
	if o.log.readHeader(seq, &e) == nil {
		delivered = max(delivered, uint64(e.IngestTime))
	}
	o.mu.Lock()
	o.cursor, o.delivered = seq, delivered
	o.appended.drop(seq + 1)
	o.mu.Unlock()
	return nil
}

// Save persists the cursor Advance reached, if it moved since the last
// Save (one atomic file write), then drops delivered entries from the
// front of the log when that is worth it (see reclaim). Without a move it
// does nothing.
func (o *Outbox) Save() error {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	o.mu.Lock()
	closed, cursor, delivered, saved := o.closed, o.cursor, o.delivered, o.saved
	o.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if cursor == saved {
		return nil
	}
	if err := o.persist(cursor, delivered); err != nil {
		return err
	}
	return o.reclaim(cursor)
}

// saveLocked saves the cursor for compact, after syncing the sink. The
// caller holds commitMu.
func (o *Outbox) saveLocked() error {
	o.mu.Lock()
	cursor, delivered, saved := o.cursor, o.delivered, o.saved
	o.mu.Unlock()
	if cursor == saved || o.syncSink() != nil {
		return nil
	}
	return o.persist(cursor, delivered)
}

// persist writes the cursor file and records what it holds as saved. The
// caller holds commitMu.
func (o *Outbox) persist(cursor, delivered uint64) error {
	if err := o.writeCursor(cursor, delivered); err != nil {
		return err
	}
	o.mu.Lock()
	o.saved, o.savedIn = cursor, delivered
	o.mu.Unlock()
	return nil
}

// syncSink calls the syncer, if any.
func (o *Outbox) syncSink() error {
	o.mu.Lock()
	fn := o.syncer
	o.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn()
}

// Rewind moves the cursor back to the saved one, so that Next returns
// again the entries delivered since the last Save: for a sink that lost
// them (a file sink whose sync failed).
func (o *Outbox) Rewind() {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cursor, o.delivered = o.saved, o.savedIn
}

// maxAppendTimes bounds the append-time samples an outbox keeps.
const maxAppendTimes = 1024

// appendTimes samples the append times of an outbox's pending entries, at
// most one per second (the first entry appended in it), so that memory
// stays bounded however long the sink is down. The entry with seq s was
// appended in the second of the last sample at or before s.
type appendTimes struct {
	s []appendTime
}

type appendTime struct {
	seq uint64
	at  int64 // unix seconds
}

// record notes that seq was appended at t.
func (a *appendTimes) record(seq uint64, t time.Time) {
	sec := t.Unix()
	if n := len(a.s); n > 0 && a.s[n-1].at >= sec {
		return
	}
	if len(a.s) == maxAppendTimes {
		// Halve the resolution, keeping the oldest sample.
		for i := 1; 2*i < len(a.s); i++ {
			a.s[i] = a.s[2*i]
		}
		a.s = a.s[:(len(a.s)+1)/2]
	}
	a.s = append(a.s, appendTime{seq, sec})
}

// drop forgets the samples that no entry from seq on needs.
func (a *appendTimes) drop(seq uint64) {
	i := 0
	for i+1 < len(a.s) && a.s[i+1].seq <= seq {
		i++
	}
	a.s = append(a.s[:0], a.s[i:]...)
}

// oldest returns when seq was appended; the zero time if unknown.
func (a *appendTimes) oldest(seq uint64) time.Time {
	if len(a.s) == 0 || a.s[0].seq > seq {
		return time.Time{}
	}
	a.drop(seq)
	return time.Unix(a.s[0].at, 0)
}

// at returns when seq was appended; the zero time if unknown.
func (a *appendTimes) at(seq uint64) time.Time {
	i := sort.Search(len(a.s), func(i int) bool { return a.s[i].seq > seq })
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(a.s[i-1].at, 0)
}

// Dropped returns the points a DropOldest budget has dropped from this
// outbox since it was opened.
func (o *Outbox) Dropped() uint64 { return o.dropped.Load() }

// pending reports whether entries wait after the cursor.
func (o *Outbox) pending() bool { return o.log.LastIndex() > o.Cursor() }

// SetSyncer sets the function that makes what the sink took durable (a
// file sink's sync), for a Budget that needs the room of entries delivered
// but not saved: the outbox then syncs the sink and saves its cursor
// itself. fn may be called from any goroutine that appends.
func (o *Outbox) SetSyncer(fn func() error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.syncer = fn
}

// compact drops the delivered entries from the front of the log now, so
// that a Budget does not count them. It first saves the cursor, after
// syncing the sink; when that sync fails, entries delivered since the last
// save stay.
func (o *Outbox) compact() error {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	if err := o.saveLocked(); err != nil {
		return err
	}
	o.mu.Lock()
	cursor := o.saved
	o.mu.Unlock()
	if first := o.log.FirstIndex(); first == 0 || cursor < first {
		return nil
	}
	if err := o.log.TruncateFront(cursor + 1); err != nil {
		return fmt.Errorf("wal: reclaim delivered entries: %w", err)
	}
	o.reclaimAt = o.log.Size() + o.segSize/2
	return nil
}

// dropOldest moves the cursor past the oldest pending entries, at least
// over bytes of them (or all), counts their points as dropped and
// reclaims their space.
func (o *Outbox) dropOldest(over int64) error {
	o.commitMu.Lock()
	defer o.commitMu.Unlock()
	o.mu.Lock()
	closed, cursor, delivered := o.closed, o.cursor, o.delivered
	o.mu.Unlock()
	if closed {
		return ErrClosed
	}
	var e Entry
	var freed int64
	points := 0
	seq, last := max(cursor, o.log.FirstIndex()-1), o.log.LastIndex()
	for seq < last && freed < over {
		seq++
		n, err := o.log.readSized(seq, &e)
		if err != nil {
			if !skippable(err) {
				return err
			}
			continue
		}
		freed += n
		points += bytes.Count(e.Points, []byte{'\n'})
		delivered = max(delivered, uint64(e.IngestTime))
	}
	if seq <= cursor {
		return nil
	}
	o.syncSink() // the entries delivered before the dropped ones
	if err := o.writeCursor(seq, delivered); err != nil {
		return err
	}
	o.mu.Lock()
	o.cursor, o.delivered = seq, delivered
	o.saved, o.savedIn = seq, delivered
	o.appended.drop(seq + 1)
	o.mu.Unlock()
	o.dropped.Add(uint64(points))
	o.log.opts.Logger.Warn("wal: outbox over its cap, oldest entries dropped",
		"dir", filepath.Dir(o.cursorPath), "through_seq", seq, "points", points)
	if err := o.log.TruncateFront(seq + 1); err != nil {
		return fmt.Errorf("wal: drop oldest: %w", err)
	}
	o.reclaimAt = o.log.Size() + o.segSize/2
	return nil
}

// reclaimIdleEvery is the least time between two reclaims of an outbox
// whose entries are all delivered. Each reclaim rewrites the front segment
// (tidwall/wal's TruncateFront) and costs two fsyncs; a sink that keeps up
// would otherwise pay them on every Save.
const reclaimIdleEvery = 5 * time.Second

// reclaim drops the entries through the saved cursor when the log grew by
// half a segment since the last reclaim (so that a backlog being delivered
// frees its disk as it goes), or when everything is delivered and the last
// reclaim of that kind is reclaimIdleEvery old.
func (o *Outbox) reclaim(saved uint64) error {
	now := o.now()
	first, last := o.log.FirstIndex(), o.log.LastIndex()
	grew := o.log.Size() >= o.reclaimAt
	idle := saved >= last && first < last && now.Sub(o.reclaimed) >= o.reclaimIdle
	if !grew && !idle {
		return nil
	}
	if err := o.log.TruncateFront(saved + 1); err != nil {
		return fmt.Errorf("wal: cursor saved, but reclaiming delivered entries failed: %w", err)
	}
	o.reclaimAt = o.log.Size() + o.segSize/2
	if idle {
		o.reclaimed = now
	}
	return nil
}

// The cursor file: magic "RVOC", version 1, cursor and delivered ingest
// index (8 bytes each, big endian), CRC-32C of the 21 bytes before it.
const (
	cursorMagic   = "RVOC"
	cursorVersion = 1
	cursorLen     = 4 + 1 + 8 + 8 + 4
)

func (o *Outbox) writeCursor(cursor, delivered uint64) error {
	if err := WriteFileAtomic(o.cursorPath, encodeCursor(cursor, delivered), 0o600); err != nil {
		return fmt.Errorf("wal: save outbox cursor %d: %w", cursor, err)
	}
	return nil
}

func encodeCursor(cursor, delivered uint64) []byte {
	b := append([]byte(cursorMagic), cursorVersion)
	b = binary.BigEndian.AppendUint64(b, cursor)
	b = binary.BigEndian.AppendUint64(b, delivered)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCursor(b []byte) (cursor, delivered uint64, err error) {
	switch {
	case len(b) != cursorLen:
		return 0, 0, fmt.Errorf("%w: cursor file has %d bytes, want %d", ErrMalformed, len(b), cursorLen)
	case string(b[:4]) != cursorMagic:
		return 0, 0, fmt.Errorf("%w: cursor file magic %q", ErrMalformed, b[:4])
	case b[4] != cursorVersion:
		return 0, 0, fmt.Errorf("%w: cursor file version %d", ErrVersion, b[4])
	case crc32.Checksum(b[:cursorLen-4], castagnoli) != binary.BigEndian.Uint32(b[cursorLen-4:]):
		return 0, 0, fmt.Errorf("%w: cursor file", ErrChecksum)
	}
	return binary.BigEndian.Uint64(b[5:]), binary.BigEndian.Uint64(b[13:]), nil
}
