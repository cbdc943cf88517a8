package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/rivulet-edge/rivulet/internal/bufs"
	tidwall "github.com/tidwall/wal"
)

// Sentinel errors of Log and Outbox.
var (
	ErrNotFound = errors.New("wal: index not in the log")
	ErrClosed   = errors.New("wal: log closed")
)

// Options configure Open and OpenOutbox.
type Options struct {
	// SegmentSize is the size at which a segment file is closed and a new
	// one started; 8MiB when 0.
	SegmentSize int64
	// MaxSize is the size Full reports against; 0 means no cap.
	MaxSize int64
	// Quarantine is the directory damaged records are copied to, created
	// 0700 on demand; <dir>/quarantine when empty.
	Quarantine string
	// Logger receives repair and corruption reports; nil discards them.
	Logger *slog.Logger
	// RollbackUnsynced makes a failed Append or Sync cut the log back to
	// its last successful Sync, so that the caller can write the same
	// entries again without duplicating them. Set it when nobody reads an
	// entry before it is synced (wal.durability: fsync): entries that were
	// handed on must never disappear.
	RollbackUnsynced bool
	// WholeSegments makes TruncateFront drop only whole segment files: the
	// entries below the index asked for that share a segment with it stay
	// (at most a segment of them), and no segment is ever rewritten.
	// tidwall's own TruncateFront copies the rest of the segment holding
	// the index to a new file, which at low rates doubles the bytes the
	// ingest log writes to the disk.
	WholeSegments bool
	// Compress writes the points of every entry that has some compressed
	// (S2, see FORMAT.md). Entries of either form are read whatever the
	// option.
	Compress bool
}

const defaultSegmentSize = 8 << 20

func (o Options) withDefaults(dir string) Options {
	if o.SegmentSize <= 0 {
		o.SegmentSize = defaultSegmentSize
	}
	o.SegmentSize = min(o.SegmentSize, math.MaxInt32)
	if o.Quarantine == "" {
		o.Quarantine = filepath.Join(dir, "quarantine")
	}
	o.Logger = discardIfNil(o.Logger)
	return o
}

// Log is an append-only sequence of entries numbered from 1, stored in
// segment files. All its methods may be called from any goroutine. Sync does
// not take the lock Append and Read share, but tidwall holds its own lock
// while it syncs.
type Log struct {
	dir   string
	opts  Options
	q     *quarantine
	tw    *tidwall.Log
	size  atomic.Int64
	first atomic.Uint64 // tidwall's view: 1 and 0 for a log never written
	last  atomic.Uint64
	syncs atomic.Uint64 // see Syncs

	// tailSize follows the size of tidwall's tail segment to count the
	// syncs tidwall does when it starts a new segment (see noteCycles).
	tailSize int64
	frames   []int64 // frame sizes of the batch being appended

	// mu serializes every call into tidwall but Sync: tidwall's Read
	// mutates its segment cache under a read lock, so reads race each other.
	mu sync.Mutex
	// twMu guards the tidwall handle against being replaced by recovery
	// while Sync uses it (Sync holds it for reading; recovery, taken
	// after mu, for writing).
	twMu sync.RWMutex
	// durable is the tail segment and its size at the last successful
	// Sync (or at Open): what a rollback cuts back to.
	durable segPos
	// reopenPending is set when recovery failed; the next Append or Sync retries it.
	reopenPending bool
	// syncErr is a failed fsync of the tail outside Sync (tidwall's close
	// in dropSegments): the next Sync reports it, and rolls back, so that
	// its caller writes its batch again instead of acking it.
	syncErr error
	// syncHook, when set by a test, replaces tidwall's Sync; closeHook
	// replaces tidwall's Close in dropSegments.
	syncHook, closeHook func() error
	closed              bool
	batch               tidwall.Batch
	buf                 []byte
	// batchPeak is the largest batch since l.batch was last let go: the
	// capacity it holds. The keepers let the buffers go after a burst.
	batchPeak          int
	batchKeep, bufKeep bufs.Keeper
	scratch            *scratch // where S2 encodes a record's block
	// pointsIn and storedOut count, since Open, the bytes of points of
	// every appended entry and the bytes their frames took in the files.
	pointsIn, storedOut atomic.Int64
	bad                 map[uint64]location // damaged records seen since Open
	broken              []brokenSegment
}

// segPos is a position in the segment files: a segment and a size.
type segPos struct {
	seg  uint64 // the segment's first index; 0 for no segment
	size int64
}

type location struct {
	segment string
	offset  int64
}

// Open opens or creates the log in dir (0700; segment files 0600). It first
// repairs the tail segment (see Repair and FORMAT.md), then loads it. Damage
// is never an error: only I/O failures are. Open logs what it could not
// quarantine; reporting the Repair is the caller's job.
func Open(dir string, opts Options) (*Log, Repair, error) {
	opts = opts.withDefaults(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Repair{}, fmt.Errorf("wal: %w", err)
	}
	l := &Log{dir: dir, opts: opts, bad: map[uint64]location{}}
	l.scratch = newScratch(l)
	l.q = &quarantine{dir: opts.Quarantine, prefix: filepath.Base(dir), log: opts.Logger}
	rep, bad, err := repairDir(dir, l.q)
	if err != nil {
		return nil, rep, fmt.Errorf("wal: repair %s: %w", dir, err)
	}
	for _, b := range bad {
		l.bad[b.index] = location{b.segment, b.offset}
	}
	if err := l.openTidwall(); err != nil {
		return nil, rep, err
	}
	// What repair left is what Open reports as there: the first rollback
	// point.
	if l.durable, err = tailPos(dir); err != nil {
		return nil, rep, errors.Join(fmt.Errorf("wal: %w", err), l.tw.Close())
	}
	return l, rep, nil
}

// tailPos returns the newest segment of dir and its size.
func tailPos(dir string) (segPos, error) {
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		return segPos{}, err
	}
	t := segs[len(segs)-1]
	return segPos{t.index, t.size}, nil
}

func (l *Log) openTidwall() error {
	tw, err := tidwall.Open(l.dir, &tidwall.Options{
		NoSync: true, SegmentSize: int(l.opts.SegmentSize), SegmentCacheSize: 1,
		NoCopy: true, AllowEmpty: true, DirPerms: 0o700, FilePerms: 0o600,
	})
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", l.dir, err)
	}
	l.tw = tw
	l.syncIndexes()
	if err := l.resize(); err != nil {
		return errors.Join(err, tw.Close())
	}
	tail, err := tailPos(l.dir)
	if err != nil {
		return errors.Join(fmt.Errorf("wal: %w", err), tw.Close())
	}
	l.tailSize = tail.size
	return nil
}

// Syncs counts the fsyncs of the log's files and directory since Open:
// Sync, the sync of a full segment when the next one starts, those of
// TruncateFront and of a rollback. Each is counted when attempted.
func (l *Log) Syncs() uint64 { return l.syncs.Load() }

// noteCycles counts the segment changes tidwall made while writing a batch
// of frames (it syncs the full segment each time): it starts a new segment
// before the batch when the tail is over the segment size, and after any
// frame that brings the tail to it. l.mu must be held.
func (l *Log) noteCycles() {
	limit := l.opts.SegmentSize
	if l.tailSize > limit {
		l.syncs.Add(1)
		l.tailSize = 0
	}
	for _, f := range l.frames {
		if l.tailSize += f; l.tailSize >= limit {
			l.syncs.Add(1)
			l.tailSize = 0
		}
	}
}

// syncIndexes copies tidwall's indexes into the atomics readers use.
func (l *Log) syncIndexes() {
	first, _ := l.tw.FirstIndex()
	last, _ := l.tw.LastIndex()
	l.first.Store(first)
	l.last.Store(last)
}

// resize recomputes Size from the segment files on disk.
func (l *Log) resize() error {
	segs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("wal: size: %w", err)
	}
	var n int64
	for _, s := range segs {
		n += s.size
	}
	l.size.Store(n)
	return nil
}

// FirstIndex is the index of the oldest entry, or 0 for a log never
// written. A log that repair cut to nothing reports LastIndex()+1, the index
// Append will use next, so that indexes never go back.
func (l *Log) FirstIndex() uint64 {
	if l.last.Load() == 0 {
		return 0
	}
	return l.first.Load()
}

// LastIndex is the index of the newest entry, or 0 for a log never written.
// The first index ever written is 1.
func (l *Log) LastIndex() uint64 { return l.last.Load() }

// Size is the number of bytes of all segment files.
func (l *Log) Size() int64 { return l.size.Load() }

// Full reports whether Size has reached Options.MaxSize. The log never
// drops entries to make room: callers hold their sources instead.
func (l *Log) Full() bool { return l.opts.MaxSize > 0 && l.Size() >= l.opts.MaxSize }

// MaxSize is the cap Full reports against, 0 for none.
func (l *Log) MaxSize() int64 { return l.opts.MaxSize }

// Quarantined counts the distinct damaged records found since Open, by the
// repair scan or by Read.
func (l *Log) Quarantined() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bad)
}

// Append writes entries as one batch and returns the indexes of the first
// and last; with no entries it returns 0, 0. It does not sync. Entries are
// not retained. An entry of unknown kind fails the whole batch.
func (l *Log) Append(entries ...*Entry) (first, last uint64, err error) {
	if len(entries) == 0 {
		return 0, 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, 0, ErrClosed
	}
	if l.reopenPending {
		if err := l.recoverLocked(); err != nil {
			return 0, 0, err
		}
	}
	next := l.last.Load() + 1
	added, points, err := l.fillBatch(next, entries)
	if err != nil {
		return 0, 0, err
	}
	if err := l.tw.WriteBatch(&l.batch); err != nil {
		// tidwall keeps the failed entries in its in-memory tail, so the
		// next write would misplace every record: reopen from the files.
		werr := fmt.Errorf("wal: append: %w", err)
		if rerr := l.recoverLocked(); rerr != nil {
			return 0, 0, errors.Join(werr, rerr)
		}
		return 0, 0, werr
	}
	l.batchPeak = max(l.batchPeak, int(added))
	if !l.batchKeep.Keep(int(added), l.batchPeak) {
		l.batch, l.batchPeak = tidwall.Batch{}, 0
	}
	l.size.Add(added)
	l.pointsIn.Add(points)
	l.storedOut.Add(added)
	l.noteCycles()
	last = next + uint64(len(entries)) - 1
	l.last.Store(last)
	return next, last, nil
}

// fillBatch encodes entries into l.batch and returns their size on disk
// and the bytes of their points.
func (l *Log) fillBatch(next uint64, entries []*Entry) (added, points int64, err error) {
	l.batch.Clear()
	l.frames = l.frames[:0]
	for i, e := range entries {
		if !e.Kind.valid() {
			return 0, 0, fmt.Errorf("wal: append entry %d: %w %d", i, ErrKind, uint8(e.Kind))
		}
		points += int64(len(e.Points))
		rec := e.record
		if rec == nil {
			l.buf = encodeEntry(l.buf[:0], e, l.opts.Compress, l.scratch)
			rec = l.buf
		}
		l.batch.Write(next+uint64(i), rec)
		f := frameLen(len(rec))
		l.frames = append(l.frames, f)
		added += f
	}
	l.buf = l.bufKeep.Bytes(l.buf, len(l.buf))
	return added, points, nil
}

// Written returns, since Open, the bytes of points appended and the bytes
// their records took in the segment files: with Options.Compress, what
// compression saved. Batches written again after a failed sync count again.
func (l *Log) Written() (points, stored int64) { return l.pointsIn.Load(), l.storedOut.Load() }

// Sync makes every appended entry durable (fsync of the tail segment; full
// segments were synced when the next one started). With RollbackUnsynced a
// failed sync cuts the log back to the last successful one: after a failed
// fsync the kernel may have dropped the unwritten pages, so only writing
// the entries again makes them durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if err := l.syncErr; err != nil {
		l.syncErr = nil
		defer l.mu.Unlock()
		if l.opts.RollbackUnsynced {
			if rerr := l.recoverLocked(); rerr != nil {
				return errors.Join(err, rerr)
			}
		}
		return err
	}
	if l.reopenPending {
		if err := l.recoverLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	// Everything written before this stat is covered by the fsync below.
	pos, perr := tailPos(l.dir)
	l.mu.Unlock()

	l.twMu.RLock()
	l.syncs.Add(1)
	var err error
	if l.syncHook != nil {
		err = l.syncHook()
	} else {
		err = l.tw.Sync()
	}
	l.twMu.RUnlock()
	if errors.Is(err, tidwall.ErrClosed) {
		return ErrClosed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.syncErr != nil {
		// A truncation's close failed to sync meanwhile, and consumed the
		// error the file had to report: this fsync's success covers
		// nothing it can vouch for.
		err, l.syncErr = l.syncErr, nil
	}
	if err != nil {
		err = fmt.Errorf("wal: sync: %w", err)
		if l.opts.RollbackUnsynced && !l.closed {
			if rerr := l.recoverLocked(); rerr != nil {
				return errors.Join(err, rerr)
			}
		}
		return err
	}
	if perr == nil {
		// A whole-segment truncation since the stat may have removed
		// pos's segment (see dropSegments).
		if first := l.first.Load(); l.opts.WholeSegments && pos.seg != 0 && pos.seg < first {
			pos = segPos{first, 0}
		}
		l.durable = pos
	}
	return nil
}

// recoverLocked reopens tidwall from the files after a failed write or
// sync: it cuts the log back to the last successful Sync (with
// RollbackUnsynced) or only the torn tail a failed write left, then
// repairs and reopens. On failure the log stays broken and the next Append
// or Sync tries again. l.mu must be held.
func (l *Log) recoverLocked() error {
	l.twMu.Lock()
	defer l.twMu.Unlock()
	if !l.reopenPending {
		_ = l.tw.Close() // its in-memory state is what is wrong
	}
	l.reopenPending = true
	before := l.last.Load()
	if l.opts.RollbackUnsynced && l.durable.seg != 0 {
		l.syncs.Add(1) // the directory
		if err := cutTo(l.dir, l.durable); err != nil {
			return fmt.Errorf("wal: roll back to the last sync: %w", err)
		}
	}
	rep, bad, err := repairDir(l.dir, l.q)
	if err != nil {
		return fmt.Errorf("wal: repair after a failed write: %w", err)
	}
	for _, b := range bad {
		l.bad[b.index] = location{b.segment, b.offset}
	}
	if err := l.openTidwall(); err != nil {
		return err
	}
	l.reopenPending = false
	l.opts.Logger.Warn("ingest log reopened after a failed write or sync",
		"dir", l.dir, "last_before", before, "last_now", l.last.Load(), "repair", rep.String())
	return nil
}

// cutTo removes the segments after pos and truncates pos's segment to its
// size, then syncs the directory.
func cutTo(dir string, pos segPos) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		switch {
		case s.index > pos.seg:
			if err := os.Remove(s.path); err != nil {
				return err
			}
		case s.index == pos.seg && s.size > pos.size:
			if err := os.Truncate(s.path, pos.size); err != nil {
				return err
			}
		}
	}
	return syncDir(dir)
}

// Read fills e with the entry at index, reusing e's slices. It returns
// ErrNotFound outside [FirstIndex, LastIndex] and *CorruptionError for a
// damaged record, which it copies to quarantine the first time.
func (l *Log) Read(index uint64, e *Entry) error {
	_, err := l.read(index, e, modeCopy)
	return err
}

// ReadShared is Read without a copy of the points: e.Points is a part of
// the log's own memory of its segment, which the log never changes, so it
// stays valid; the caller must not modify it. It spares the copy of every
// entry a reader that looks at each entry once makes (a drain's entries
// are up to batch.max_bytes each). Compressed points (Options.Compress)
// are decompressed into e's own memory, as Read does: they stay valid
// until e is read into again.
func (l *Log) ReadShared(index uint64, e *Entry) error {
	_, err := l.read(index, e, modeShare)
	return err
}

// readHeader is Read that fills only e.Kind and e.IngestTime, checking the
// record whole but leaving its points alone: a window close's record is
// not decompressed (1.5 MB at 10k series) to learn its time.
func (l *Log) readHeader(index uint64, e *Entry) error {
	_, err := l.read(index, e, modeHeader)
	return err
}

// readSized is Read that also returns the bytes the entry's frame takes
// in its segment file.
func (l *Log) readSized(index uint64, e *Entry) (int64, error) {
	n, err := l.read(index, e, modeCopy)
	return frameLen(n), err
}

// readMode says how much of a record Log.read decodes.
type readMode uint8

const (
	modeCopy   readMode = iota // everything, the points copied (Read)
	modeShare                  // everything, the points shared (ReadShared)
	modeHeader                 // the kind and the ingest time (readHeader)
)

// read is Read, ReadShared and readHeader; it returns the length of the
// record.
func (l *Log) read(index uint64, e *Entry, mode readMode) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if index == 0 || index < l.first.Load() || index > l.last.Load() {
		return 0, ErrNotFound
	}
	if b := l.brokenAt(index); b != nil {
		return 0, l.brokenError(index, b)
	}
	data, err := l.readRaw(index)
	switch {
	case errors.Is(err, tidwall.ErrCorrupt):
		return 0, l.brokenError(index, l.breakSegment(index, err))
	case err != nil:
		return 0, fmt.Errorf("wal: read %d: %w", index, err)
	}
	if mode == modeHeader {
		err = decodeHeader(data, e)
	} else {
		err = decodeEntry(data, e, mode == modeShare)
	}
	if err != nil {
		return 0, l.corrupt(index, data, err)
	}
	return len(data), nil
}

// readRaw reads one record from tidwall, turning the panic tidwall raises
// for a segment shorter than its neighbours claim into ErrCorrupt.
func (l *Log) readRaw(index uint64) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("%w: %v", tidwall.ErrCorrupt, r)
		}
	}()
	return l.tw.Read(index)
}

// TruncateFront drops the entries below index. It never drops the last
// entry (index is clamped to LastIndex) and does nothing when index <=
// FirstIndex. tidwall rewrites the rest of the segment holding index, so
// call it sparingly (per checkpoint, not per entry). With
// Options.WholeSegments it drops only the segments whose entries are all
// below index and rewrites nothing; FirstIndex is then the first index of
// the segment holding index.
func (l *Log) TruncateFront(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.reopenPending {
		if err := l.recoverLocked(); err != nil {
			return err
		}
	}
	first, last := l.first.Load(), l.last.Load()
	index = min(index, last)
	if last < first || index <= first {
		return nil
	}
	if l.opts.WholeSegments {
		return l.dropSegments(index)
	}
	before, _ := listSegments(l.dir)
	l.syncs.Add(2) // the rewritten segment, then the directory
	if err := l.tw.TruncateFront(index); err != nil {
		return fmt.Errorf("wal: truncate front to %d: %w", index, err)
	}
	l.moveDurable(before)
	l.first.Store(index)
	if err := syncDir(l.dir); err != nil {
		return fmt.Errorf("wal: truncate front: %w", err)
	}
	if tail, err := tailPos(l.dir); err == nil {
		l.tailSize = tail.size
	}
	return l.resize()
}

// dropSegments removes the segment files that hold only entries below
// index, oldest first, so that a crash in between leaves a log without a
// gap, and reopens tidwall on the rest: tidwall keeps its list of segments
// in memory, and only its own TruncateFront, which rewrites, changes it.
// Reopening reads the tail segment back; it costs a read, not a write.
// l.mu must be held.
func (l *Log) dropSegments(index uint64) error {
	segs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("wal: truncate front: %w", err)
	}
	n := 0 // the segments to remove: all below the one holding index
	for n+1 < len(segs) && segs[n+1].index <= index {
		n++
	}
	if n == 0 {
		return nil
	}
	l.twMu.Lock()
	defer l.twMu.Unlock()
	// tidwall syncs its tail segment when it closes. A failure there is a
	// failed sync of entries whose writer has not synced them yet: the next
	// Sync reports it (and rolls back) rather than this truncation, so
	// that the writer writes them again. tidwall stays open.
	l.syncs.Add(1)
	closeTW := l.tw.Close
	if l.closeHook != nil {
		closeTW = l.closeHook
	}
	if err := closeTW(); err != nil {
		l.syncErr = fmt.Errorf("wal: sync (closing the log to truncate it): %w", err)
		return fmt.Errorf("wal: truncate front: close: %w", err)
	}
	// The rollback point stays the last Sync's even though tidwall's close
	// synced everything: a Sync that fails after this must still cut the
	// batch its caller will write again. A caller that syncs before it
	// truncates (the engine reads only synced entries) never removes that
	// point's segment; should one, nothing before the first segment left
	// can be cut back to.
	if l.durable.seg != 0 && l.durable.seg < segs[n].index {
		l.durable = segPos{segs[n].index, 0}
	}
	l.reopenPending = true // until tidwall is open again
	var rmErr error
	for _, s := range segs[:n] {
		if rmErr = os.Remove(s.path); rmErr != nil {
			break
		}
	}
	l.syncs.Add(1) // the directory
	if err := syncDir(l.dir); err != nil {
		rmErr = errors.Join(rmErr, err)
	}
	if err := l.openTidwall(); err != nil {
		return errors.Join(fmt.Errorf("wal: truncate front: reopen: %w", err), rmErr)
	}
	l.reopenPending = false
	if rmErr != nil {
		return fmt.Errorf("wal: truncate front to %d: %w", index, rmErr)
	}
	return nil
}

// failed reports whether the log is waiting to be reopened after a failed
// write or sync.
func (l *Log) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reopenPending
}

// moveDurable follows the rollback point when TruncateFront rewrote the
// segment holding it: that segment is renamed to the new first index and
// loses the bytes before it.
func (l *Log) moveDurable(before []segFile) {
	after, err := listSegments(l.dir)
	if err != nil || len(after) == 0 {
		return
	}
	for _, s := range after {
		if s.index == l.durable.seg {
			return // untouched
		}
	}
	for _, s := range before {
		if s.index == l.durable.seg {
			l.durable = segPos{after[0].index, l.durable.size - (s.size - after[0].size)}
			return
		}
	}
}

// Close syncs and closes the log. Calling it again returns nil.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.reopenPending {
		return nil // recovery closed tidwall and could not reopen it
	}
	if err := l.tw.Close(); err != nil {
		return fmt.Errorf("wal: close: %w", err)
	}
	return nil
}
