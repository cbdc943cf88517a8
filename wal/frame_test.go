package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
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

func TestFrameRoundTrip(t *testing.T) {
	reused := Entry{Fingerprints: make([]uint64, 5000), Points: make([]byte, 1<<20)}
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := EncodeEntry([]byte("prefix"), &tc.e)
			if string(b[:6]) != "prefix" {
				t.Fatal("EncodeEntry did not append to dst")
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
			if !bytes.Equal(EncodeEntry(nil, &fresh), b[6:]) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

// TestDecodeRejectsDamage cuts and flips a small record at every byte.
func TestDecodeRejectsDamage(t *testing.T) {
	e := Entry{Kind: KindBatch, IngestTime: 99, Fingerprints: []uint64{1, 2}, Points: []byte("m v=1i 1\n")}
	b := EncodeEntry(nil, &e)
	var got Entry
	for i := 0; i < len(b); i++ {
		if err := DecodeEntry(b[:i], &got); err == nil {
			t.Errorf("DecodeEntry accepted the first %d of %d bytes", i, len(b))
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
				t.Errorf("flip byte %d bit %d: %v, want %v", i, bit, err, want)
			}
		}
	}
}

// reseal recomputes the CRC of a record edited in place.
func reseal(b []byte) []byte {
	body := b[:len(b)-crcLen]
	binary.BigEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
	return b
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
		{"version 2", func() []byte { b := base(); b[0] = 0xA2; return reseal(b) }(), ErrVersion},
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
			if err := DecodeEntry(tt.b, &e); !errors.Is(err, tt.want) {
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

// FuzzDecodeEntry checks that DecodeEntry never panics and accepts only the
// exact bytes EncodeEntry writes. Seeds are in testdata/fuzz/FuzzDecodeEntry.
func FuzzDecodeEntry(f *testing.F) {
	for _, tc := range frameCases()[:5] {
		f.Add(EncodeEntry(nil, &tc.e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if DecodeEntry(b, &e) != nil {
			return
		}
		if !e.Kind.valid() {
			t.Fatalf("accepted kind %d", e.Kind)
		}
		if re := EncodeEntry(nil, &e); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x, re-encodes to %x", b, re)
		}
	})
}
