package bufs

import (
	"testing"
	"time"
)

// use is one use of a buffer: n bytes, gap after the previous use.
type use struct {
	n   int
	gap time.Duration
}

func uses(n int, gap time.Duration, times int) []use {
	s := make([]use, times)
	for i := range s {
		s[i] = use{n, gap}
	}
	return s
}

// keeps is want for uses that all keep the buffer but those at the
// indexes in gone.
func keeps(total int, gone ...int) []bool {
	w := make([]bool, total)
	for i := range w {
		w[i] = true
	}
	for _, i := range gone {
		w[i] = false
	}
	return w
}

func TestKeeper(t *testing.T) {
	const ms = time.Millisecond
	first := use{1 << 20, 0}
	tests := []struct {
		name string
		c    int
		uses []use
		want []bool
	}{
		{"small buffer always kept", Small, uses(0, time.Hour, 40), keeps(40)},
		{"large buffer, the first use lets it go", 1 << 20, []use{first}, keeps(1, 0)},
		{"large buffer used fully and often", 1 << 20, append([]use{first}, uses(1<<20, 10*ms, 40)...), keeps(41, 0)},
		{"quarter uses count as full", 1 << 20, append([]use{first}, uses(1<<18, 10*ms, 40)...), keeps(41, 0)},
		{"large buffer used once a minute", 1 << 20, append([]use{first}, uses(1<<20, time.Minute, 3)...), keeps(4, 0, 1, 2, 3)},
		{"small uses let it go at the 32nd", 1 << 20, append([]use{first, {1 << 20, ms}}, uses(100, 10*ms, 40)...), keeps(42, 0, 33)},
		{"a full use resets the count", 1 << 20, append(append(append([]use{first, {1 << 20, ms}}, uses(100, ms, 31)...), use{1 << 20, ms}), uses(100, ms, 31)...), keeps(65, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := time.Unix(1000, 0)
			k := Keeper{now: func() time.Time { return clock }}
			for i, u := range tt.uses {
				clock = clock.Add(u.gap)
				if got := k.Keep(u.n, tt.c); got != tt.want[i] {
					t.Fatalf("use %d (%d bytes after %v): keep = %v, want %v", i, u.n, u.gap, got, tt.want[i])
				}
			}
		})
	}
}

func TestBytes(t *testing.T) {
	clock := time.Unix(1000, 0)
	k := Keeper{now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }}
	b := make([]byte, 10, 1<<20)
	if got := k.Bytes(b, 1<<20); got != nil {
		t.Fatalf("first use: got cap %d, want nil (no recent use)", cap(got))
	}
	for i := range quietUses - 1 {
		if b = k.Bytes(b, 10); b == nil || len(b) != 0 || cap(b) != 1<<20 {
			t.Fatalf("use %d: got len %d cap %d, want the buffer emptied and kept", i, len(b), cap(b))
		}
	}
	if b = k.Bytes(b, 10); b != nil {
		t.Fatalf("got cap %d after %d quiet uses, want nil", cap(b), quietUses)
	}
}
