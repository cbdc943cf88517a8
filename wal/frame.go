package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"

	"github.com/klauspost/compress/s2"
)

// Kind says what a record holds.
type Kind uint8

const (
	// KindBatch is a micro-batch of points written by the batcher.
	KindBatch Kind = 1
	// KindHeartbeat carries only an ingest time, so that processing time
	// moves while the stream is idle.
	KindHeartbeat Kind = 2
	// KindEpoch marks that a source (re)connected or the agent started.
	KindEpoch Kind = 3
	// KindResult is an outbox record: engine output for one sink. Its time
	// field holds the ingest log index that produced it (see FORMAT.md).
	KindResult Kind = 4
)

var kindNames = [...]string{KindBatch: "batch", KindHeartbeat: "heartbeat", KindEpoch: "epoch", KindResult: "result"}

// String names the kind, or gives its number when it is unknown.
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindBatch && k <= KindResult }

// Entry is one record of a log. Readers may reuse an Entry: Read and
// DecodeEntry overwrite every field and reuse the capacity of its slices.
type Entry struct {
	Kind Kind
	// IngestTime is the batcher's clock (ns) when the entry was written: the
	// engine's only notion of processing time. KindResult records keep their
	// ingest index here.
	IngestTime int64
	// Fingerprints holds one hash per QoS>0 MQTT message in the batch, for
	// redelivery dedupe.
	Fingerprints []uint64
	// Points is line protocol with ns timestamps, newline-terminated lines;
	// it may be empty.
	Points []byte
	// lent says that Points is a part of a log's memory (ReadShared): the
	// next decode into this Entry must not write into it.
	lent bool
	// record, when set, is this entry already encoded (encodeEntry) with
	// the log's compression: Log.Append writes it as it is.
	record []byte
}

// formatV1 is the first byte of every record: 0xA in the high nibble marks a
// rivulet record, the low nibble is the format version.
const formatV1 byte = 0xA1

// formatV2 is formatV1 with the points compressed in the S2 block format
// (github.com/klauspost/compress/s2): the points length is that of the
// compressed block. Records without points are always written as formatV1.
const formatV2 byte = 0xA2

// maxPointsLen bounds the points a formatV2 record may decompress to, so
// that a damaged length cannot make a reader allocate without limit. Points
// longer than that (far above any batch: batch.max_bytes is 4MiB by
// default) are written uncompressed.
const maxPointsLen = 1 << 30

const (
	fixedLen     = 1 + 1 + 8 // version, kind, time
	crcLen       = 4
	minRecordLen = fixedLen + 1 + 1 + crcLen // two one-byte uvarints
)

// Errors DecodeEntry wraps; test them with errors.Is.
var (
	ErrVersion   = errors.New("wal: unknown record format version")
	ErrKind      = errors.New("wal: unknown record kind")
	ErrChecksum  = errors.New("wal: record checksum mismatch")
	ErrMalformed = errors.New("wal: malformed record")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeEntry appends the framed record of e to dst and returns the extended
// slice. It does not check e.Kind; Append does.
func EncodeEntry(dst []byte, e *Entry) []byte { return encodeEntry(dst, e, false, nil) }

// EncodeEntryCompressed is EncodeEntry with the points compressed
// (formatV2) when there are any.
func EncodeEntryCompressed(dst []byte, e *Entry) []byte { return encodeEntry(dst, e, true, nil) }

// encodeEntry is EncodeEntry, compressing with compress; S2 encodes into
// sc's room when sc is not nil.
func encodeEntry(dst []byte, e *Entry, compress bool, sc *scratch) []byte {
	compress = compress && len(e.Points) > 0 && len(e.Points) <= maxPointsLen
	start := len(dst)
	version := formatV1
	if compress {
		version = formatV2
	}
	dst = append(dst, version, byte(e.Kind))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.IngestTime))
	dst = binary.AppendUvarint(dst, uint64(len(e.Fingerprints)))
	for _, f := range e.Fingerprints {
		dst = binary.BigEndian.AppendUint64(dst, f)
	}
	if compress {
		dst = appendCompressed(dst, e.Points, sc)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(e.Points)))
		dst = append(dst, e.Points...)
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// appendCompressed appends the length of the S2 block of points and the
// block. Without sc, the block is encoded in place, after room for the
// longest length, and moved down over the room its length did not use.
// With sc, it is encoded into sc's room and copied: dst then grows by what
// the block takes, not by S2's worst case.
func appendCompressed(dst, points []byte, sc *scratch) []byte {
	room := binary.MaxVarintLen64
	bound := s2.MaxEncodedLen(len(points))
	n := len(dst)
	if sc != nil {
		block := s2.Encode(sc.get(bound), points)
		dst = slices.Grow(dst, room+len(block)+crcLen)
		dst = binary.AppendUvarint(dst, uint64(len(block)))
		dst = append(dst, block...)
		sc.done(len(block))
		return dst
	}
	dst = slices.Grow(dst, room+bound+crcLen)
	block := s2.Encode(dst[n+room:n+room+bound], points)
	dst = binary.AppendUvarint(dst[:n], uint64(len(block)))
	return append(dst, block...) // copy handles the overlap
}

// DecodeEntry parses one record into e, reusing e's slices; it does not
// retain b. It checks the version byte first (a newer format may checksum
// differently), then the CRC, then the kind and every length, and accepts
// only the exact bytes EncodeEntry produces. On error e is unspecified.
func DecodeEntry(b []byte, e *Entry) error { return decodeEntry(b, e, false) }

// decodeEntry is DecodeEntry; with share, e.Points is a part of b instead
// of a copy.
func decodeEntry(b []byte, e *Entry, share bool) error {
	body, err := checkRecord(b)
	if err != nil {
		return err
	}
	return decodeBody(body, e, share)
}

// decodeHeader is decodeEntry that sets only e.Kind and e.IngestTime: the
// record is checked as a whole (version, CRC, kind) but its points are
// neither copied nor decompressed, and its lengths are not parsed.
func decodeHeader(b []byte, e *Entry) error {
	body, err := checkRecord(b)
	if err != nil {
		return err
	}
	e.Kind = Kind(body[1])
	e.IngestTime = int64(binary.BigEndian.Uint64(body[2:fixedLen]))
	return nil
}

// checkRecord checks a record's length, version, CRC and kind, in that
// order, and returns its body (the record without the CRC).
func checkRecord(b []byte) ([]byte, error) {
	if len(b) < minRecordLen {
		return nil, fmt.Errorf("%w: %d bytes, a record has at least %d", ErrMalformed, len(b), minRecordLen)
	}
	if b[0] != formatV1 && b[0] != formatV2 {
		return nil, fmt.Errorf("%w 0x%02x (this build reads 0x%02x and 0x%02x)", ErrVersion, b[0], formatV1, formatV2)
	}
	body := b[:len(b)-crcLen]
	stored := binary.BigEndian.Uint32(b[len(body):])
	if sum := crc32.Checksum(body, castagnoli); sum != stored {
		return nil, fmt.Errorf("%w: computed %08x, stored %08x", ErrChecksum, sum, stored)
	}
	if k := Kind(body[1]); !k.valid() {
		return nil, fmt.Errorf("%w %d", ErrKind, uint8(k))
	}
	return body, nil
}

// decodeBody parses a checksummed body: version, kind, time, fingerprints,
// points (copied into e.Points, or with share, a part of body; compressed
// points are decompressed into e.Points' memory either way).
func decodeBody(body []byte, e *Entry, share bool) error {
	n, rest, err := uvarint(body[fixedLen:], "fingerprint count")
	if err != nil {
		return err
	}
	if n > uint64(len(rest))/8 {
		return fmt.Errorf("%w: %d fingerprints do not fit in %d bytes", ErrMalformed, n, len(rest))
	}
	fps, rest := rest[:n*8], rest[n*8:]
	plen, rest, err := uvarint(rest, "points length")
	if err != nil {
		return err
	}
	if plen != uint64(len(rest)) {
		return fmt.Errorf("%w: points length %d, %d bytes left", ErrMalformed, plen, len(rest))
	}
	e.Kind = Kind(body[1])
	e.IngestTime = int64(binary.BigEndian.Uint64(body[2:fixedLen]))
	e.Fingerprints = e.Fingerprints[:0]
	for i := 0; i < len(fps); i += 8 {
		e.Fingerprints = append(e.Fingerprints, binary.BigEndian.Uint64(fps[i:]))
	}
	if e.lent {
		e.Points, e.lent = nil, false
	}
	if body[0] == formatV2 {
		return decompressPoints(rest, e)
	}
	if share {
		e.Points, e.lent = rest[:len(rest):len(rest)], true
	} else {
		e.Points = append(e.Points[:0], rest...)
	}
	return nil
}

// decompressPoints decodes the S2 block of a formatV2 record into e.Points,
// reusing its capacity. The block must hold points: an empty one is
// written as formatV1.
func decompressPoints(block []byte, e *Entry) error {
	n, err := s2.DecodedLen(block)
	switch {
	case err != nil:
		return fmt.Errorf("%w: compressed points: %v", ErrMalformed, err)
	case n == 0 || n > maxPointsLen:
		return fmt.Errorf("%w: compressed points claim %d bytes", ErrMalformed, n)
	}
	if cap(e.Points) < n {
		e.Points = make([]byte, n)
	}
	if e.Points, err = s2.Decode(e.Points[:n], block); err != nil {
		return fmt.Errorf("%w: compressed points: %v", ErrMalformed, err)
	}
	return nil
}

// uvarint reads a minimally encoded uvarint, so that every accepted record
// re-encodes to the same bytes.
func uvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad %s varint", ErrMalformed, what)
	}
	if n != uvarintLen(v) {
		return 0, nil, fmt.Errorf("%w: %s varint is not minimal", ErrMalformed, what)
	}
	return v, b[n:], nil
}

func uvarintLen(v uint64) int {
	return max(1, (bits.Len64(v)+6)/7)
}

// frameLen is the size on disk of a record of n bytes inside a tidwall
// segment: uvarint(n) then the record.
func frameLen(n int) int64 {
	return int64(uvarintLen(uint64(n)) + n)
}

// plausible says whether a complete frame that fails to decode may still be
// a record damaged in place (kept and quarantined) rather than the start of
// garbage (cut): it is long enough and its version byte is at most one bit
// away from formatV1 or formatV2.
func plausible(rec []byte) bool {
	return len(rec) >= minRecordLen &&
		(bits.OnesCount8(rec[0]^formatV1) <= 1 || bits.OnesCount8(rec[0]^formatV2) <= 1)
}
