package wal

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  bool
	}{
		{in: "65536", want: 65536},
		{in: "512KiB", want: 512 << 10},
		{in: "8MiB", want: 8 << 20},
		{in: " 1 GiB ", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "512KB", want: 512_000},
		{in: "1.5MB", want: 1_500_000},
		{in: "4mb", want: 4_000_000},
		{in: "64k", want: 64 << 10},
		{in: "100B", want: 100},
		{in: "", err: true},
		{in: "MiB", err: true},
		{in: "-1KiB", err: true},
		{in: "ten", err: true},
		{in: "9000000TB", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
			var u Size
			if err := u.UnmarshalText([]byte(tt.in)); (err != nil) != tt.err || u != tt.want {
				t.Fatalf("UnmarshalText(%q) = %d, %v", tt.in, u, err)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	for s, want := range map[Size]string{0: "0B", 100: "100B", 1 << 10: "1KiB", 8 << 20: "8MiB",
		3 << 30: "3GiB", 1536: "1536B", 1_000_000: "1000000B"} {
		if got := s.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), got, want)
		}
		if back, err := ParseSize(s.String()); err != nil || back != s {
			t.Errorf("ParseSize(%q) = %d, %v", s.String(), back, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error, none for valid
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "write durability", edit: func(c *Config) { c.Durability = DurabilityWrite }},
		{name: "bad durability", edit: func(c *Config) { c.Durability = "sometimes" }, want: []string{"durability:"}},
		{name: "small segments", edit: func(c *Config) { c.SegmentSize = 1 << 10 }, want: []string{"segment_size:"}},
		{name: "cap below two segments", edit: func(c *Config) { c.MaxSize = c.SegmentSize }, want: []string{"max_size:"}},
		{name: "all wrong", edit: func(c *Config) { *c = Config{Durability: "x"} },
			want: []string{"durability:", "segment_size:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if (err != nil) != (len(tt.want) > 0) {
				t.Fatalf("Validate() = %v, want errors %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}
