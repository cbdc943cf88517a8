package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeCheckpoint checks that decodeCheckpoint never panics and
// accepts only the exact bytes encodeCheckpoint writes for that index.
// Seeds are in testdata/fuzz/FuzzDecodeCheckpoint.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(encodeCheckpoint(7, []byte("state")), uint64(7))
	f.Add(encodeCheckpoint(0, nil), uint64(0))
	f.Add(encodeCheckpoint(1<<40, bytes.Repeat([]byte{0}, 100)), uint64(1<<40))
	f.Add([]byte("RVCK\x01"), uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, index uint64) {
		state, err := decodeCheckpoint(b, index)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v wraps none of the sentinels", err)
			}
			return
		}
		if re := encodeCheckpoint(index, state); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x as checkpoint %d, re-encodes to %x", b, index, re)
		}
	})
}

// FuzzDecodeCursor checks that decodeCursor never panics and accepts only
// the exact bytes encodeCursor writes.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(3, 12))
	f.Add(encodeCursor(0, 0))
	f.Add(encodeCursor(^uint64(0), ^uint64(0)))
	f.Add([]byte("RVOC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cursor, delivered, err := decodeCursor(b)
		if err != nil {
			return
		}
		if re := encodeCursor(cursor, delivered); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x as %d/%d, re-encodes to %x", b, cursor, delivered, re)
		}
	})
}

// fuzzGoodRecords is how many intact records precede the fuzzed tail.
const fuzzGoodRecords = 4

// goodSegment returns the tidwall frames of testEntry(1..n).
func goodSegment(n uint64) []byte {
	var seg []byte
	for i := uint64(1); i <= n; i++ {
		rec := EncodeEntry(nil, testEntry(i))
		seg = binary.AppendUvarint(seg, uint64(len(rec)))
		seg = append(seg, rec...)
	}
	return seg
}

// FuzzOpenTail writes fuzzGoodRecords intact records followed by arbitrary
// bytes as the tail segment and opens the log. Open must succeed, keep every
// intact record, report a cut that accounts for every byte removed, leave a
// log that a second Open finds clean, and take new appends at the next
// index. Records the tail happens to hold that decode may survive; any other
// entry after the intact ones must read as *CorruptionError.
func FuzzOpenTail(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 37))
	f.Add(goodSegment(2)[:20])
	f.Add(append([]byte{20, formatV1}, bytes.Repeat([]byte{7}, 19)...))
	rec := EncodeEntry(nil, testEntry(9))
	rec[len(rec)/2] ^= 1
	f.Add(append([]byte{byte(len(rec))}, rec...))
	// Compressed records: whole, damaged in the block, cut short.
	big := &Entry{Kind: KindBatch, IngestTime: 9, Points: bytes.Repeat([]byte("m,host=h1 v=9i 9000\n"), 6)}
	crec := EncodeEntryCompressed(nil, big)
	f.Add(append([]byte{byte(len(crec))}, crec...))
	damaged := bytes.Clone(crec)
	damaged[len(damaged)-6] ^= 0x40
	f.Add(append([]byte{byte(len(damaged))}, damaged...))
	f.Add(append([]byte{byte(len(crec))}, crec[:len(crec)-3]...))
	f.Add(append([]byte{20, formatV2}, bytes.Repeat([]byte{7}, 19)...))
	f.Fuzz(func(t *testing.T, tail []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "log")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		good := goodSegment(fuzzGoodRecords)
		seg := filepath.Join(dir, "00000000000000000001")
		writeFile(t, seg, append(append([]byte{}, good...), tail...))
		l, rep, err := Open(dir, Options{Quarantine: filepath.Join(root, "q")})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		checkFuzzedTail(t, l, rep, int64(len(good)+len(tail)))
		next := l.LastIndex() + 1
		if first, _, err := l.Append(testEntry(next)); err != nil || first != next {
			t.Fatalf("Append after repair = %d, %v; want %d", first, err, next)
		}
		last := l.LastIndex()
		l.Close()
		l2, rep2, err := Open(dir, Options{Quarantine: filepath.Join(root, "q")})
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer l2.Close()
		if rep2.TruncatedBytes != 0 || l2.LastIndex() != last {
			t.Fatalf("second Open cut again (%v) or lost entries: last %d, want %d", rep2, l2.LastIndex(), last)
		}
		checkRange(t, l2, 1, fuzzGoodRecords)
	})
}

func checkFuzzedTail(t *testing.T, l *Log, rep Repair, size int64) {
	t.Helper()
	if l.LastIndex() < fuzzGoodRecords {
		t.Fatalf("LastIndex %d: intact records lost (%v)", l.LastIndex(), rep)
	}
	checkRange(t, l, 1, fuzzGoodRecords)
	if rep.TruncatedBytes > 0 && rep.CutOffset+rep.TruncatedBytes != size {
		t.Fatalf("cut %d bytes at %d of a %d-byte file", rep.TruncatedBytes, rep.CutOffset, size)
	}
	if l.Size()+rep.TruncatedBytes != size {
		t.Fatalf("size %d after cutting %d bytes of %d", l.Size(), rep.TruncatedBytes, size)
	}
	var e Entry
	bad := 0
	for i := uint64(fuzzGoodRecords + 1); i <= l.LastIndex(); i++ {
		var ce *CorruptionError
		if err := l.Read(i, &e); errors.As(err, &ce) {
			bad++
		} else if err != nil {
			t.Fatalf("Read(%d) = %v, want an entry or *CorruptionError", i, err)
		}
	}
	if bad != rep.Quarantined {
		t.Fatalf("%d damaged entries kept, repair reports %d quarantined", bad, rep.Quarantined)
	}
}

// FuzzOpenOutboxCursor writes an arbitrary cursor file next to an outbox of
// five results and opens it: OpenOutbox must succeed with the cursor inside
// the log, never report a damaged cursor for a well-formed one, and keep the
// high-water mark at or above the newest result's ingest index.
func FuzzOpenOutboxCursor(f *testing.F) {
	f.Add(uint64(2), uint64(11), []byte{}, false)
	f.Add(uint64(99), uint64(99), []byte{}, false)
	f.Add(uint64(0), uint64(0), []byte("RVOC\x01garbage"), true)
	f.Add(uint64(5), uint64(14), encodeCursor(5, 14)[:20], true)
	f.Fuzz(func(t *testing.T, cursor, delivered uint64, raw []byte, useRaw bool) {
		dir := filepath.Join(t.TempDir(), "sink")
		o, _ := openOutbox(t, dir)
		appendResults(t, o, 10, 11, 12, 13, 14)
		o.Close()
		content := encodeCursor(cursor, delivered)
		if useRaw {
			content = raw
		}
		writeFile(t, filepath.Join(dir, "cursor"), content)
		o, rep := openOutbox(t, dir)
		wellFormed := !useRaw || func() bool { _, _, err := decodeCursor(raw); return err == nil }()
		if rep.CursorDamaged == wellFormed {
			t.Fatalf("CursorDamaged %v for a cursor file that decodes: %v", rep.CursorDamaged, wellFormed)
		}
		if o.Cursor() > 5 {
			t.Fatalf("cursor %d past the last entry 5 (%v)", o.Cursor(), rep)
		}
		if o.HighWater() < 14 {
			t.Fatalf("high water %d below the newest result's 14", o.HighWater())
		}
		if hw := o.HighWater(); hw < ^uint64(0) {
			if err := o.Append(hw+1, result(1), true); err != nil {
				t.Fatalf("Append above the high water %d: %v", hw, err)
			}
		}
	})
}
