package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// View is a read-only view of a log directory (the ingest log or an outbox):
// the entries Open would find there, read straight from the segment files
// with the record decoder. It never writes, renames or deletes a file, so it
// can look at the data of a stopped agent without changing it; Tail and
// Pending say what the next Open would repair instead.
//
// A View is a snapshot: it does not follow a log that is being written, and
// it must not be used while a Log has the directory open (Open repairs and
// TruncateFront rewrites files under it). It is not safe for concurrent use.
type View struct {
	Dir string
	// Segments are the segment files as tidwall will load them, oldest
	// first; a pending .START or .END copy stands in for the files it
	// replaces.
	Segments []SegmentInfo
	// Pending names the files Open renames or deletes before it loads the
	// log: copies left by an interrupted TruncateFront, and temp files.
	Pending []string
	// Tail is the damaged end of the tail segment that Open would cut.
	Tail Tail

	first, last uint64
	tailEnd     int // bytes of the tail segment Open keeps
	cached      loaded
}

// SegmentInfo describes one segment file of a View.
type SegmentInfo struct {
	Path    string
	First   uint64 // index of its first entry
	Entries uint64 // entries it holds for the log (0 for a tail cut to nothing)
	Size    int64  // bytes on disk, a damaged tail included
}

// Tail describes the bytes at the end of the tail segment that the next Open
// cuts (see Repair and FORMAT.md). The zero value means a clean tail.
type Tail struct {
	Segment string
	Offset  int64 // where the cut starts: after the last record that decodes
	Records int   // as Repair.TruncatedRecords
	Bytes   int64 // as Repair.TruncatedBytes
}

// loaded is the segment a View read last: its bytes and the offsets of its
// frames (one per entry, then the end of the last).
type loaded struct {
	seg    int
	data   []byte
	frames []int
	broken error // framing damage: every entry of the segment reads as damaged
}

// OpenView reads the layout of the log in dir and scans its tail segment as
// Open would, without repairing anything. A directory that does not exist is
// an error wrapping fs.ErrNotExist.
func OpenView(dir string) (*View, error) {
	segs, pending, err := viewFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: view %s: %w", dir, err)
	}
	v := &View{Dir: dir, Segments: segs, Pending: pending, cached: loaded{seg: -1}}
	if len(segs) == 0 {
		return v, nil
	}
	if err := v.scanTail(); err != nil {
		return nil, fmt.Errorf("wal: view %s: %w", dir, err)
	}
	for i := range len(segs) - 1 {
		segs[i].Entries = segs[i+1].First - segs[i].First
	}
	tail := segs[len(segs)-1]
	v.first, v.last = segs[0].First, tail.First+tail.Entries-1
	if v.last == 0 {
		v.first = 0
	}
	return v, nil
}

// viewFiles lists dir the way tidwall's load does (in name order; a .START
// copy replaces the files before it, the first .END copy drops the files
// after it) and names the files Open would remove or rename.
func viewFiles(dir string) (segs []SegmentInfo, pending []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	start, end := -1, -1
	for _, de := range ents {
		name := de.Name()
		index, kind := classify(name)
		switch {
		case de.IsDir():
			continue
		case kind == fileTemp || isAtomicTemp(name):
			pending = append(pending, name)
			continue
		case kind == fileOther:
			continue
		case kind == fileStart:
			start, pending = len(segs), append(pending, name)
		case kind == fileEnd:
			pending = append(pending, name)
			if end < 0 {
				end = len(segs)
			}
		}
		info, err := de.Info()
		if err != nil {
			return nil, nil, err
		}
		segs = append(segs, SegmentInfo{Path: filepath.Join(dir, name), First: index, Size: info.Size()})
	}
	return dropReplaced(segs, start, end), pending, checkStartEnd(start, end)
}

func checkStartEnd(start, end int) error {
	if start >= 0 && end >= 0 {
		return fmt.Errorf("%w: both a .START and a .END file; tidwall cannot load the log", ErrMalformed)
	}
	return nil
}

// dropReplaced removes the segments a pending .START or .END copy replaces.
func dropReplaced(segs []SegmentInfo, start, end int) []SegmentInfo {
	if start >= 0 {
		segs = segs[start:]
	}
	if end >= 0 && end < len(segs) {
		segs = segs[:end+1]
		if n := len(segs); n > 1 && segs[n-2].First == segs[n-1].First {
			segs = append(segs[:n-2], segs[n-1])
		}
	}
	return segs
}

// scanTail finds where Open would cut the tail segment and how many entries
// it keeps.
func (v *View) scanTail() error {
	tail := &v.Segments[len(v.Segments)-1]
	data, err := os.ReadFile(tail.Path)
	if err != nil {
		return err
	}
	s := scanSegment(data, tail.First)
	v.tailEnd = s.goodEnd
	for off := 0; off < s.goodEnd; tail.Entries++ {
		_, off, _ = nextFrame(data, off)
	}
	if s.goodEnd < len(data) {
		v.Tail = Tail{Segment: tail.Path, Offset: int64(s.goodEnd), Records: s.cutRecords,
			Bytes: int64(len(data) - s.goodEnd)}
	}
	return nil
}

// FirstIndex is the index of the oldest entry, or 0 for a log never written;
// as Log.FirstIndex, a log cut to nothing reports LastIndex()+1.
func (v *View) FirstIndex() uint64 { return v.first }

// LastIndex is the index of the newest entry Open would keep, or 0.
func (v *View) LastIndex() uint64 { return v.last }

// Size is the number of bytes of all segment files, a damaged tail included.
func (v *View) Size() int64 {
	var n int64
	for _, s := range v.Segments {
		n += s.Size
	}
	return n
}

// Read fills e with the entry at index, reusing e's slices. It returns
// ErrNotFound outside [FirstIndex, LastIndex] and *CorruptionError for a
// damaged record, as Log.Read does, but copies nothing to quarantine.
func (v *View) Read(index uint64, e *Entry) error {
	rec, seg, off, err := v.record(index)
	if err != nil {
		return err
	}
	if err := DecodeEntry(rec, e); err != nil {
		return &CorruptionError{Index: index, Segment: seg, Offset: off, Err: err}
	}
	return nil
}

// RecordLen is the size on disk of the frame of entry index, length prefix
// included; 0 when it cannot be read.
func (v *View) RecordLen(index uint64) int {
	rec, _, _, err := v.record(index)
	if err != nil {
		return 0
	}
	return int(frameLen(len(rec)))
}

// Compressed reports whether the record of entry index holds its points
// compressed (format version 2, see FORMAT.md).
func (v *View) Compressed(index uint64) bool {
	rec, _, _, err := v.record(index)
	return err == nil && len(rec) > 0 && rec[0] == formatV2
}

// record returns the record bytes of entry index, the path of its segment
// and the offset of its frame.
func (v *View) record(index uint64) (rec []byte, seg string, off int64, err error) {
	if index == 0 || index < v.first || index > v.last {
		return nil, "", -1, ErrNotFound
	}
	i := sort.Search(len(v.Segments), func(i int) bool { return v.Segments[i].First > index }) - 1
	s := v.Segments[i]
	ld, err := v.load(i)
	switch {
	case err != nil:
		return nil, s.Path, -1, fmt.Errorf("wal: read %d: %w", index, err)
	case ld.broken != nil:
		return nil, s.Path, -1, &CorruptionError{Index: index, Segment: s.Path, Offset: -1, Err: ld.broken}
	}
	start := ld.frames[index-s.First]
	rec, _, _ = nextFrame(ld.data, start)
	return rec, s.Path, int64(start), nil
}

// load reads segment i, unless it is the one read last, and indexes its
// frames. Like tidwall, it treats an older segment whose framing breaks
// anywhere, or that holds fewer frames than its neighbours imply, as
// unreadable as a whole.
func (v *View) load(i int) (*loaded, error) {
	if v.cached.seg == i {
		return &v.cached, nil
	}
	s := v.Segments[i]
	data, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, err
	}
	end := len(data)
	if i == len(v.Segments)-1 {
		end = min(end, v.tailEnd)
	}
	ld := loaded{seg: i, data: data[:end]}
	off := 0
	for off < end {
		ld.frames = append(ld.frames, off)
		_, next, ok := nextFrame(ld.data, off)
		if !ok {
			ld.broken = fmt.Errorf("%w: segment framing breaks at offset %d", ErrMalformed, off)
			break
		}
		off = next
	}
	ld.frames = append(ld.frames, off)
	if ld.broken == nil && uint64(len(ld.frames)-1) < s.Entries {
		ld.broken = fmt.Errorf("%w: segment holds %d records, %d expected", ErrMalformed, len(ld.frames)-1, s.Entries)
	}
	v.cached = ld
	return &v.cached, nil
}
