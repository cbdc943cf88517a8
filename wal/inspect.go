package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// OutboxView is a read-only view of an outbox directory: its entries and
// its cursor as OpenOutbox would restore them, without repairing, clamping
// or quarantining anything.
type OutboxView struct {
	*View
	// Cursor is the seq delivered through, after the adjustments OpenOutbox
	// makes (entries below the first were delivered; a cursor past the last
	// entry is clamped).
	Cursor uint64
	// Delivered is the ingest index of the entry at the persisted cursor.
	Delivered uint64
	// CursorErr is why the cursor file is unusable (OpenOutbox quarantines it
	// and redelivers from the first entry), or nil.
	CursorErr error
	// Clamped says the persisted cursor, ClampedFrom, was past the last entry.
	Clamped     bool
	ClampedFrom uint64
}

// OpenOutboxView opens a read-only view of the outbox in dir.
func OpenOutboxView(dir string) (*OutboxView, error) {
	v, err := OpenView(dir)
	if err != nil {
		return nil, err
	}
	o := &OutboxView{View: v}
	b, err := os.ReadFile(filepath.Join(dir, "cursor"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("wal: outbox cursor: %w", err)
	default:
		o.Cursor, o.Delivered, o.CursorErr = decodeCursor(b)
		if o.CursorErr != nil {
			o.Cursor, o.Delivered = 0, 0
		}
	}
	if first := v.FirstIndex(); first > 0 {
		o.Cursor = max(o.Cursor, first-1)
	}
	if last := v.LastIndex(); o.Cursor > last {
		o.Clamped, o.ClampedFrom, o.Cursor = true, o.Cursor, last
	}
	return o, nil
}

// HighWater is the highest ingest index the outbox holds or delivered, as
// Outbox.HighWater would report it after OpenOutbox.
func (o *OutboxView) HighWater() uint64 {
	var e Entry
	first := o.FirstIndex()
	for i := o.LastIndex(); first > 0 && i >= first; i-- {
		if o.Read(i, &e) == nil && e.Kind == KindResult {
			return max(o.Delivered, uint64(e.IngestTime))
		}
	}
	return o.Delivered
}

// Backlog returns the number of entries after the cursor and the bytes of
// the outbox's segment files, or 0, 0 when nothing is pending (as
// Outbox.Backlog).
func (o *OutboxView) Backlog() (entries int, bytes int64) {
	if o.LastIndex() <= o.Cursor {
		return 0, 0
	}
	return int(o.LastIndex() - o.Cursor), o.Size()
}

// CheckpointFile describes one checkpoint file on disk.
type CheckpointFile struct {
	Index   uint64
	Path    string
	Size    int64
	ModTime time.Time
	// Err is why the file is not a valid checkpoint (Latest would move it to
	// quarantine), or nil.
	Err error
}

// ListCheckpoints checks the checkpoint files in dir, oldest first, without
// touching them: unlike OpenCheckpoints it removes no temp file and
// quarantines nothing. A directory that does not exist is an error wrapping
// fs.ErrNotExist.
func ListCheckpoints(dir string) ([]CheckpointFile, error) {
	indexes, err := listCheckpoints(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: checkpoints: %w", err)
	}
	var out []CheckpointFile
	for _, idx := range indexes {
		f := CheckpointFile{Index: idx, Path: filepath.Join(dir, fmt.Sprintf("ckpt-%020d", idx))}
		if info, err := os.Stat(f.Path); err == nil {
			f.Size, f.ModTime = info.Size(), info.ModTime()
		}
		_, f.Err = ReadCheckpoint(dir, idx)
		out = append(out, f)
	}
	return out, nil
}

// ReadCheckpoint returns the state saved in the checkpoint for index in
// dir, checked as Latest checks it.
func ReadCheckpoint(dir string, index uint64) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("ckpt-%020d", index)))
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(b, index)
}
