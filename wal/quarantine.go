package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// quarantine copies damaged bytes aside for a person to inspect. Names start
// with the base name of the directory they come from, so one quarantine
// directory can serve the ingest log, the outboxes and the checkpoints.
type quarantine struct {
	dir    string
	prefix string
	log    *slog.Logger
}

// save writes data to <dir>/<prefix>-<name> (0600, directory created 0700 on
// demand). When that file exists, save leaves it alone and returns "" if
// unique is false (the same record was set aside before), or picks the next
// free name "<name>.1", "<name>.2", … if unique is true.
func (q *quarantine) save(name string, data []byte, unique bool) (string, error) {
	if err := os.MkdirAll(q.dir, 0o700); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	base := filepath.Join(q.dir, q.prefix+"-"+name)
	for i := 0; ; i++ {
		path := base
		if i > 0 {
			path = base + "." + strconv.Itoa(i)
		}
		err := writeNew(path, data)
		switch {
		case err == nil:
			return path, nil
		case !errors.Is(err, fs.ErrExist):
			return "", fmt.Errorf("quarantine: %w", err)
		case !unique:
			return "", nil
		}
	}
}

// move copies src into the quarantine directory under a free name, then
// removes it. Copying rather than renaming works across file systems.
func (q *quarantine) move(src string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	path, err := q.save(filepath.Base(src), data, true)
	if err != nil {
		return "", err
	}
	if err := os.Remove(src); err != nil {
		return path, fmt.Errorf("quarantine: copied to %s but %w", path, err)
	}
	return path, syncDir(filepath.Dir(src))
}

func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func discardIfNil(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// CorruptionError reports a record that fails its checks. The record stays
// in the log, so indexes do not shift; a copy is in the quarantine
// directory.
type CorruptionError struct {
	Index   uint64
	Segment string // segment file path; "" when it could not be found
	Offset  int64  // byte offset of the record's frame in Segment, or -1
	Err     error  // what failed: ErrChecksum, ErrVersion, … or tidwall's ErrCorrupt
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: damaged record %d in %s at offset %d: %v", e.Index, e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// corrupt builds the error for a record that fails to decode, setting it
// aside the first time it is seen.
func (l *Log) corrupt(index uint64, data []byte, cause error) error {
	loc, seen := l.bad[index]
	if !seen {
		loc = l.setAside(index, data, cause)
		l.bad[index] = loc
	}
	return &CorruptionError{Index: index, Segment: loc.segment, Offset: loc.offset, Err: cause}
}

// setAside copies a damaged record to quarantine and logs where it was.
func (l *Log) setAside(index uint64, data []byte, cause error) location {
	seg, off := locate(l.dir, index)
	path, err := l.q.save(fmt.Sprintf("%020d.record", index), data, false)
	log := l.opts.Logger.With("dir", l.dir, "index", index, "segment", seg, "offset", off, "cause", cause)
	if err != nil {
		log.Error("wal: damaged record; cannot copy it to quarantine", "err", err)
	} else {
		log.Error("wal: damaged record quarantined", "copy", path)
	}
	return location{seg, off}
}

// brokenSegment is an older segment tidwall cannot load because its framing
// is damaged. Every index in [from, to) reads as damaged without reading
// the file again.
type brokenSegment struct {
	path     string
	from, to uint64
	cause    error
}

func (l *Log) brokenAt(index uint64) *brokenSegment {
	for i := range l.broken {
		if b := &l.broken[i]; index >= b.from && index < b.to {
			return b
		}
	}
	return nil
}

// breakSegment records the segment holding index as broken, copies it to
// quarantine and logs it: once per segment.
func (l *Log) breakSegment(index uint64, cause error) *brokenSegment {
	b := brokenSegment{from: index, to: index + 1, cause: cause}
	segs, _ := listSegments(l.dir)
	if i := segmentOf(segs, index); i >= 0 {
		b.path, b.from, b.to = segs[i].path, segs[i].index, math.MaxUint64
		if i+1 < len(segs) {
			b.to = segs[i+1].index
		}
	}
	data, err := os.ReadFile(b.path)
	path := ""
	if err == nil {
		path, err = l.q.save(filepath.Base(b.path)+".segment", data, false)
	}
	l.opts.Logger.Error("wal: segment framing damaged; its entries read as damaged", "segment", b.path,
		"first", b.from, "cause", cause, "copy", path, "quarantine_err", err)
	l.broken = append(l.broken, b)
	return &l.broken[len(l.broken)-1]
}

func (l *Log) brokenError(index uint64, b *brokenSegment) error {
	l.bad[index] = location{b.path, -1}
	return &CorruptionError{Index: index, Segment: b.path, Offset: -1, Err: b.cause}
}
