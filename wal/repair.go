package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Repair reports what Open cut or set aside. The zero value means nothing
// happened.
type Repair struct {
	// Segment is the tail segment file that was cut ("" when none was).
	Segment string
	// CutOffset is the byte offset in Segment where the cut starts: just
	// after the last record that decodes.
	CutOffset int64
	// TruncatedRecords counts the records cut: the complete records after
	// the last good one that fail their checks, plus one for a torn or
	// unparseable remainder unless that remainder is all zeros.
	TruncatedRecords int
	// TruncatedBytes counts every byte cut, zero padding included.
	TruncatedBytes int64
	// TailCopy is where the cut bytes were saved ("" when they were all
	// zeros, or when saving them failed: Open logs that).
	TailCopy string
	// Quarantined counts damaged records before the last good one, newly
	// copied to quarantine. They stay in the log so that indexes do not
	// shift; Read reports them as *CorruptionError.
	Quarantined int
	// RemovedTemps counts leftover temp files of interrupted atomic writes
	// that were deleted; they never hold live data.
	RemovedTemps int
	// CursorDamaged says an outbox cursor file failed its checks; it was
	// quarantined and delivery restarts at the outbox's first entry.
	CursorDamaged bool
	// CursorClamped says the persisted outbox cursor, CursorFrom, was past
	// the last entry (unsynced entries were lost); it is now CursorTo.
	CursorClamped        bool
	CursorFrom, CursorTo uint64
}

// Empty reports whether Open found nothing to repair.
func (r Repair) Empty() bool { return r == Repair{} }

// String describes the repair in one line for a log message.
func (r Repair) String() string {
	var parts []string
	if r.TruncatedBytes > 0 {
		s := fmt.Sprintf("cut %d damaged record(s), %d bytes, from %s at offset %d",
			r.TruncatedRecords, r.TruncatedBytes, r.Segment, r.CutOffset)
		if r.TailCopy != "" {
			s += " (saved to " + r.TailCopy + ")"
		}
		parts = append(parts, s)
	}
	if r.Quarantined > 0 {
		parts = append(parts, fmt.Sprintf("quarantined %d damaged record(s) kept in the log", r.Quarantined))
	}
	if r.RemovedTemps > 0 {
		parts = append(parts, fmt.Sprintf("removed %d leftover temp file(s)", r.RemovedTemps))
	}
	if r.CursorDamaged {
		parts = append(parts, "cursor file damaged (quarantined); delivery restarts at the first entry")
	}
	if r.CursorClamped {
		parts = append(parts, fmt.Sprintf("cursor %d was past the last entry, clamped to %d", r.CursorFrom, r.CursorTo))
	}
	if len(parts) == 0 {
		return "nothing repaired"
	}
	return strings.Join(parts, "; ")
}

// badRecord is a complete frame that fails to decode.
type badRecord struct {
	index   uint64
	segment string
	offset  int64
	data    []byte
}

// scan is what scanSegment learnt about one segment file.
type scan struct {
	goodEnd    int         // offset just past the last record that decodes
	bad        []badRecord // damaged records before goodEnd: kept
	cutRecords int         // see Repair.TruncatedRecords
}

// scanSegment walks the frames of a segment whose first index is first. It
// stops at the first frame that is torn or cannot be a record damaged in
// place (see plausible: zero padding, garbage): tidwall would reject or
// misnumber what follows.
func scanSegment(data []byte, first uint64) scan {
	var (
		s       scan
		pending []badRecord
		e       Entry
		off     int
	)
	for index := first; off < len(data); index++ {
		rec, next, ok := nextFrame(data, off)
		if !ok {
			break
		}
		good := DecodeEntry(rec, &e) == nil
		if !good && !plausible(rec) {
			break
		}
		if good {
			s.bad, pending, s.goodEnd = append(s.bad, pending...), pending[:0], next
		} else {
			pending = append(pending, badRecord{index, "", int64(off), rec})
		}
		off = next
	}
	s.cutRecords = len(pending)
	if !allZero(data[off:]) {
		s.cutRecords++
	}
	return s
}

// nextFrame returns the record of the tidwall frame at off and the offset
// after it; ok is false when the frame is torn or its length unreadable.
func nextFrame(data []byte, off int) (rec []byte, next int, ok bool) {
	size, n := binary.Uvarint(data[off:])
	if n <= 0 || uint64(len(data)-off-n) < size {
		return nil, off, false
	}
	next = off + n + int(size)
	return data[off+n : next], next, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// repairDir runs before tidwall opens dir. It removes temp files, scans the
// tail segment, saves its damaged records to quarantine and cuts it after
// its last good record. It returns the damaged records kept in the log.
func repairDir(dir string, q *quarantine) (Repair, []badRecord, error) {
	var rep Repair
	n, err := removeTemps(dir)
	rep.RemovedTemps = n
	if err != nil {
		return rep, nil, fmt.Errorf("remove temp files: %w", err)
	}
	path, first, err := tailFile(dir)
	if err != nil || path == "" {
		return rep, nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return rep, nil, err
	}
	s := scanSegment(data, first)
	for i := range s.bad {
		s.bad[i].segment = path
	}
	rep.Quarantined = saveBad(q, s.bad)
	if s.goodEnd == len(data) {
		return rep, s.bad, nil
	}
	return rep, s.bad, cutTail(q, path, data, s, &rep)
}

// tailFile names the file tidwall will load as its last segment: the first
// END file if any (tidwall drops what follows it), else the last segment or
// START file in name order.
func tailFile(dir string) (string, uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, err
	}
	var (
		path  string
		index uint64
	)
	for _, de := range ents {
		i, kind := classify(de.Name())
		if de.IsDir() || kind == fileOther || kind == fileTemp {
			continue
		}
		path, index = filepath.Join(dir, de.Name()), i
		if kind == fileEnd {
			break
		}
	}
	return path, index, nil
}

// saveBad copies damaged records to quarantine and returns how many were
// new there. A failure to save is logged, never fatal.
func saveBad(q *quarantine, bad []badRecord) int {
	n := 0
	for _, b := range bad {
		p, err := q.save(fmt.Sprintf("%020d.record", b.index), b.data, false)
		if err != nil {
			q.log.Error("wal: cannot quarantine damaged record", "segment", b.segment, "index", b.index, "err", err)
		}
		if p != "" {
			n++
		}
	}
	return n
}

// cutTail saves the bytes after s.goodEnd to quarantine unless they are all
// zeros, then truncates the file there and syncs it.
func cutTail(q *quarantine, path string, data []byte, s scan, rep *Repair) error {
	tail := data[s.goodEnd:]
	rep.Segment, rep.CutOffset = path, int64(s.goodEnd)
	rep.TruncatedRecords, rep.TruncatedBytes = s.cutRecords, int64(len(tail))
	if !allZero(tail) {
		name := fmt.Sprintf("%s-at%d.tail", filepath.Base(path), s.goodEnd)
		p, err := q.save(name, tail, true)
		if err != nil {
			q.log.Error("wal: cannot save the cut tail; cutting anyway", "segment", path, "err", err)
		}
		rep.TailCopy = p
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(s.goodEnd))
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// fileKind sorts the names tidwall uses in a log directory.
type fileKind int

const (
	fileOther   fileKind = iota
	fileSegment          // 20-digit first index
	fileStart            // TruncateFront's finished copy, not yet renamed
	fileEnd              // TruncateBack's finished copy, not yet renamed
	fileTemp             // atomicWrite's unfinished copy: never holds live data
)

var fileSuffixes = []struct {
	suffix string
	kind   fileKind
}{{"", fileSegment}, {".START", fileStart}, {".END", fileEnd}, {".START.TEMP", fileTemp}, {".END.TEMP", fileTemp}}

// classify parses a name the way tidwall's load does.
func classify(name string) (uint64, fileKind) {
	if len(name) < 20 {
		return 0, fileOther
	}
	index, err := strconv.ParseUint(name[:20], 10, 64)
	if err != nil || index == 0 {
		return 0, fileOther
	}
	for _, s := range fileSuffixes {
		if name[20:] == s.suffix {
			return index, s.kind
		}
	}
	return 0, fileOther
}

type segFile struct {
	path  string
	index uint64
	size  int64
}

// listSegments returns the plain segment files of dir, oldest first.
func listSegments(dir string) ([]segFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segFile
	for _, de := range ents {
		index, kind := classify(de.Name())
		if kind != fileSegment || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, err
		}
		segs = append(segs, segFile{filepath.Join(dir, de.Name()), index, info.Size()})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].index < segs[j].index })
	return segs, nil
}

// locate finds the segment file holding index and the byte offset of its
// frame; offset is -1 when the segment's framing is broken before it.
func locate(dir string, index uint64) (string, int64) {
	segs, _ := listSegments(dir)
	i := segmentOf(segs, index)
	if i < 0 {
		return "", -1
	}
	data, err := os.ReadFile(segs[i].path)
	if err != nil {
		return segs[i].path, -1
	}
	off, ok := 0, true
	for n := index - segs[i].index; n > 0 && ok; n-- {
		_, off, ok = nextFrame(data, off)
	}
	if !ok {
		return segs[i].path, -1
	}
	return segs[i].path, int64(off)
}

// segmentOf returns the position in segs of the segment holding index, or -1.
func segmentOf(segs []segFile, index uint64) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].index > index }) - 1
}

// syncDir fsyncs a directory so that renames and removals in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// removeTemps deletes leftovers of interrupted atomic writes: tidwall's
// *.START.TEMP and *.END.TEMP (the rename never happened, so the original
// files are intact) and WriteFileAtomic's .<name>.tmp-* files.
func removeTemps(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, de := range ents {
		name := de.Name()
		_, kind := classify(name)
		if de.IsDir() || (kind != fileTemp && !isAtomicTemp(name)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func isAtomicTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}
