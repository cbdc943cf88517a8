package wal

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count that reads from config as a human-readable string
// ("4MiB", "512KB", "1GiB", "65536"). Binary (KiB, MiB, GiB) and decimal (KB,
// MB, GB) units are both accepted; B is optional.
type Size int64

var sizeUnits = []struct {
	suffix string
	mul    int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseSize parses a human-readable byte count.
func ParseSize(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mul := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mul = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mul
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512KiB, 8MiB, 1GiB)", s)
	}
	v := f * float64(mul)
	if v > 1<<62 {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return Size(v), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for config decoding.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String renders the size with the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		mul  int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(s) >= u.mul && int64(s)%u.mul == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.mul, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}
