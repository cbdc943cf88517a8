package window

import (
	"testing"
	"time"
)

func TestTumblingStart(t *testing.T) {
	w := NewTumbling(10 * time.Second)
	s := int64(time.Second)
	tests := []struct {
		name    string
		in, out int64
	}{
		{"zero", 0, 0},
		{"inside", 15 * s, 10 * s},
		{"edge", 20 * s, 20 * s},
		{"just before edge", 20*s - 1, 10 * s},
		{"negative", -1, -10 * s},
		{"negative edge", -10 * s, -10 * s},
	}
	for _, tc := range tests {
		if got := w.Start(tc.in); got != tc.out {
			t.Errorf("%s: Start(%d) = %d, want %d", tc.name, tc.in, got, tc.out)
		}
	}
}

func TestWatermark(t *testing.T) {
	s := int64(time.Second)
	w := NewWatermark(5*time.Second, 30*time.Second)
	if got := w.Advance(100 * s); got != None {
		t.Fatalf("empty watermark = %d", got)
	}
	w.Observe(50*s, 100*s)
	if got := w.Advance(100 * s); got != 45*s {
		t.Fatalf("after data: %d", got/s)
	}
	w.Observe(40*s, 101*s) // out of order: no regression
	if got := w.Advance(101 * s); got != 45*s {
		t.Fatalf("out of order moved the watermark: %d", got/s)
	}
	if got := w.Advance(130 * s); got != 45*s {
		t.Fatalf("idle 29s advanced: %d", got/s)
	}
	if got := w.Advance(131 * s); got != 75*s {
		t.Fatalf("idle 30s: %d, want 75", got/s)
	}
	// A restart: the epoch restarts the idle clock, and the watermark never goes back.
	w.Epoch(1000 * s)
	if got := w.Advance(1010 * s); got != 75*s {
		t.Fatalf("after epoch: %d, want 75", got/s)
	}
	if got := w.Advance(1031 * s); got != 45*s+31*s {
		t.Fatalf("idle after epoch: %d", got/s)
	}
}

func TestSetFireOrder(t *testing.T) {
	set := NewSet[*int]()
	end := func(s int64) int64 { return s + 10 }
	for _, k := range []struct {
		start int64
		key   string
	}{{20, "b"}, {0, "z"}, {0, "a"}, {10, "m"}, {20, "a"}} {
		v := new(int)
		*set.Get(k.start, k.key, func() *int { return v }) = int(k.start)
	}
	var got []string
	set.Fire(20, end, func(start int64, key string, _ *int) { got = append(got, key) })
	want := []string{"a", "z", "m"}
	if len(got) != len(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired %v, want %v", got, want)
		}
	}
	if w, s := set.Len(); w != 1 || s != 2 {
		t.Fatalf("left %d windows %d states", w, s)
	}
}
