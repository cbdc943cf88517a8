package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"testing"

	"github.com/klauspost/compress/s2"
)

func frameCases() []struct {
	name string
	e    Entry
} {
	many := make([]uint64, 1000)
	for i := range many {
		many[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	return []struct {
		name string
		e    Entry
	}{
		{"heartbeat", Entry{Kind: KindHeartbeat, IngestTime: 1_700_000_000_000_000_000}},
		{"epoch", Entry{Kind: KindEpoch, IngestTime: 42}},
		{"batch", Entry{Kind: KindBatch, IngestTime: 1, Fingerprints: []uint64{7, math.MaxUint64},
			Points: []byte("cpu,host=a usage=0.5 1\ncpu,host=b usage=1 2\n")}},
		{"batch without fingerprints", Entry{Kind: KindBatch, Points: []byte("m v=1i 3\n")}},
		{"many fingerprints", Entry{Kind: KindBatch, Fingerprints: many, Points: []byte("m v=1i 3\n")}},
		{"large points", Entry{Kind: KindBatch, Points: bytes.Repeat([]byte("m,t=x v=1 1\n"), 20000)}},
		{"negative time", Entry{Kind: KindBatch, IngestTime: math.MinInt64}},
		{"result", Entry{Kind: KindResult, IngestTime: -1, Points: []byte("agg v=2 5\n")}},
	}
}

// encoders are the two record writers: plain (formatV1) and compressed
// (formatV2 when there are points).
var encoders = []struct {
	name   string
	encode func([]byte, *Entry) []byte
}{{"plain", EncodeEntry}, {"compressed", EncodeEntryCompressed}}

func TestFrameRoundTrip(t *testing.T) {
	reused := Entry{Fingerprints: make([]uint64, 5000), Points: make([]byte, 1<<20)}
	for _, enc := range encoders {
		for _, tc := range frameCases() {
			t.Run(enc.name+"/"+tc.name, func(t *testing.T) {
				b := enc.encode([]byte("prefix"), &tc.e)
				if string(b[:6]) != "prefix" {
					t.Fatal("the encoder did not append to dst")
				}
				want := formatV1
				if enc.name == "compressed" && len(tc.e.Points) > 0 {
					want = formatV2
				}
				if b[6] != want {
					t.Fatalf("version byte %#x, want %#x", b[6], want)
				}
				var fresh Entry
				for _, got := range []*Entry{&fresh, &reused} {
					if err := DecodeEntry(b[6:], got); err != nil {
						t.Fatalf("DecodeEntry: %v", err)
					}
					if !sameEntry(got, &tc.e) {
						t.Fatalf("round trip = %+v, want %+v", got, tc.e)
					}
				}
				if !bytes.Equal(enc.encode(nil, &fresh), b[6:]) {
					t.Fatal("re-encoding differs")
				}
			})
		}
	}
}

// TestFrameCompresses checks that compressed records of repetitive line
// protocol are much smaller than plain ones, and that decoding into an
// Entry whose buffer is too small or holds other points gives the points.
func TestFrameCompresses(t *testing.T) {
	var lp []byte
	for i := range 2000 {
		lp = fmt.Appendf(lp, "temperature,device=dev-%d,zone=zone-%d value=%d.%02d %d\n", i%100, i%10, 20+i%5, i%97, 1_700_000_000_000_000_000+int64(i)*5300)
	}
	e := Entry{Kind: KindBatch, IngestTime: 5, Points: lp}
	plain, small := EncodeEntry(nil, &e), EncodeEntryCompressed(nil, &e)
	if len(small)*3 > len(plain) {
		t.Fatalf("compressed record %d bytes, plain %d: want at most a third", len(small), len(plain))
	}
	for _, got := range []*Entry{{Points: make([]byte, 10)}, {Points: bytes.Repeat([]byte("x"), 1<<20)}} {
		if err := DecodeEntry(small, got); err != nil {
			t.Fatal(err)
		}
		if !sameEntry(got, &e) {
			t.Fatalf("decoded %d bytes of points, want the %d written", len(got.Points), len(lp))
		}
	}
}

// TestDecodeRejectsDamage cuts and flips a small record at every byte,
// plain and compressed.
func TestDecodeRejectsDamage(t *testing.T) {
	e := Entry{Kind: KindBatch, IngestTime: 99, Fingerprints: []uint64{1, 2}, Points: []byte("m v=1i 1\nm v=2i 2\n")}
	for _, enc := range encoders {
		b := enc.encode(nil, &e)
		var got Entry
		for i := 0; i < len(b); i++ {
			if err := DecodeEntry(b[:i], &got); err == nil {
				t.Errorf("%s: DecodeEntry accepted the first %d of %d bytes", enc.name, i, len(b))
			}
		}
		for i := 0; i < len(b); i++ {
			for bit := 0; bit < 8; bit++ {
				c := bytes.Clone(b)
				c[i] ^= 1 << bit
				err := DecodeEntry(c, &got)
				want := ErrChecksum
				if i == 0 {
					want = ErrVersion
				}
				if !errors.Is(err, want) {
					t.Errorf("%s: flip byte %d bit %d: %v, want %v", enc.name, i, bit, err, want)
				}
			}
		}
	}
}

// TestDecodeHeader checks that decodeHeader reads the kind and time
// DecodeEntry reads, leaves the points alone (a compressed record is not
// decompressed: no allocation), and rejects every damage DecodeEntry
// rejects by its length, version, CRC or kind.
func TestDecodeHeader(t *testing.T) {
	e := Entry{Kind: KindResult, IngestTime: 12345, Fingerprints: []uint64{7}, Points: bytes.Repeat([]byte("m,s=a v=1i 1\n"), 500)}
	for _, enc := range encoders {
		b := enc.encode(nil, &e)
		var full Entry
		if err := DecodeEntry(b, &full); err != nil {
			t.Fatal(err)
		}
		sentinel := []byte("untouched")
		got := Entry{Points: sentinel}
		if err := decodeHeader(b, &got); err != nil {
			t.Fatalf("%s: %v", enc.name, err)
		}
		if got.Kind != full.Kind || got.IngestTime != full.IngestTime || !bytes.Equal(got.Points, sentinel) || got.Fingerprints != nil {
			t.Fatalf("%s: header %+v, want kind %d, time %d and the points untouched", enc.name, got, full.Kind, full.IngestTime)
		}
		if n := testing.AllocsPerRun(20, func() { _ = decodeHeader(b, &got) }); n != 0 {
			t.Errorf("%s: decodeHeader allocates %.0f times", enc.name, n)
		}
		for i := 0; i < len(b); i++ {
			if err := decodeHeader(b[:i], &got); err == nil {
				t.Errorf("%s: decodeHeader accepted the first %d of %d bytes", enc.name, i, len(b))
			}
			c := bytes.Clone(b)
			c[i] ^= 0x10
			if err := decodeHeader(c, &got); err == nil {
				t.Errorf("%s: decodeHeader accepted byte %d flipped", enc.name, i)
			}
		}
	}
	kind := reseal(EncodeEntry(nil, &Entry{Kind: KindBatch, Points: []byte("m v=1 1\n")}))
	kind[1] = 9
	if err := decodeHeader(reseal(kind), &Entry{}); !errors.Is(err, ErrKind) {
		t.Errorf("kind 9: %v, want %v", err, ErrKind)
	}
}

// reseal recomputes the CRC of a record edited in place.
func reseal(b []byte) []byte {
	body := b[:len(b)-crcLen]
	binary.BigEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
	return b
}

// v2Record is a compressed batch record with no fingerprints around block.
func v2Record(block []byte) []byte {
	b := binary.AppendUvarint([]byte{formatV2, byte(KindBatch), 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(len(block)))
	return reseal(append(append(b, block...), 0, 0, 0, 0))
}

// TestDecodeRejectsInvalid checks records whose CRC is right but whose
// content is not something EncodeEntry writes.
func TestDecodeRejectsInvalid(t *testing.T) {
	base := func() []byte {
		return EncodeEntry(nil, &Entry{Kind: KindBatch, Fingerprints: []uint64{5}, Points: []byte("m v=1 1\n")})
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"version 3", func() []byte { b := base(); b[0] = 0xA3; return reseal(b) }(), ErrVersion},
		{"plain points marked compressed", func() []byte { b := base(); b[0] = formatV2; return reseal(b) }(), ErrMalformed},
		{"compressed block of no points", v2Record(s2.Encode(nil, nil)), ErrMalformed},
		{"compressed block claims too much", v2Record(binary.AppendUvarint(nil, maxPointsLen+1)), ErrMalformed},
		{"compressed block cut short", func() []byte {
			block := s2.Encode(nil, bytes.Repeat([]byte("m v=1 1\n"), 50))
			return v2Record(block[:len(block)-1])
		}(), ErrMalformed},
		{"compressed block", v2Record(s2.Encode(nil, []byte("m v=1 1\n"))), nil},
		{"version 0", func() []byte { b := base(); b[0] = 0; return reseal(b) }(), ErrVersion},
		{"kind 0", func() []byte { b := base(); b[1] = 0; return reseal(b) }(), ErrKind},
		{"kind 5", func() []byte { b := base(); b[1] = 5; return reseal(b) }(), ErrKind},
		{"kind 255", func() []byte { b := base(); b[1] = 255; return reseal(b) }(), ErrKind},
		{"fingerprint count too large", func() []byte { b := base(); b[10] = 3; return reseal(b) }(), ErrMalformed},
		{"points length too small", func() []byte { b := base(); b[19] = 7; return reseal(b) }(), ErrMalformed},
		{"trailing byte", func() []byte {
			b := base()
			return reseal(append(b[:len(b)-crcLen:len(b)-crcLen], 'x', 0, 0, 0, 0))
		}(), ErrMalformed},
		{"non-minimal varint", reseal(append([]byte{formatV1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0}, 0, 0, 0, 0)), ErrMalformed},
		{"huge fingerprint count", reseal(append(binary.AppendUvarint(
			[]byte{formatV1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, math.MaxUint64), 0, 0, 0, 0, 0)), ErrMalformed},
		{"empty", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Entry
			err := DecodeEntry(tt.b, &e)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("DecodeEntry = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindBatch: "batch", KindHeartbeat: "heartbeat", KindEpoch: "epoch",
		KindResult: "result", 0: "kind(0)", 9: "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

// FuzzDecodeEntry checks that DecodeEntry never panics and accepts only
// records the encoders write: a plain record re-encodes to the exact bytes;
// a compressed one to a record of the same entry (an S2 block is not the
// only one that decompresses to its points), which must also carry points.
// Seeds are in testdata/fuzz/FuzzDecodeEntry.
func FuzzDecodeEntry(f *testing.F) {
	for _, tc := range frameCases()[:5] {
		f.Add(EncodeEntry(nil, &tc.e))
		f.Add(EncodeEntryCompressed(nil, &tc.e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if DecodeEntry(b, &e) != nil {
			return
		}
		if !e.Kind.valid() {
			t.Fatalf("accepted kind %d", e.Kind)
		}
		if b[0] == formatV1 {
			if re := EncodeEntry(nil, &e); !bytes.Equal(re, b) {
				t.Fatalf("decoded %x, re-encodes to %x", b, re)
			}
			return
		}
		if len(e.Points) == 0 {
			t.Fatalf("accepted compressed record %x without points", b)
		}
		re := EncodeEntryCompressed(nil, &e)
		var again Entry
		if err := DecodeEntry(re, &again); err != nil || !sameEntry(&again, &e) {
			t.Fatalf("decoded %x to %+v; its re-encoding %x gives %+v (%v)", b, e, re, again, err)
		}
	})
}
