package forward

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Age is a duration that reads from config as a Go duration ("720h",
// "90m") or in whole days ("30d"); "0" means no limit.
type Age time.Duration

// UnmarshalText implements encoding.TextUnmarshaler for config decoding.
func (a *Age) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid age %q (want e.g. 30d, 24h, 0)", s)
		}
		*a = Age(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	if s == "0" {
		*a = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid age %q (want e.g. 30d, 24h, 0)", s)
	}
	*a = Age(d)
	return nil
}

// String renders whole days as "30d", anything else as a Go duration.
func (a Age) String() string {
	d := time.Duration(a)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// newestTime returns the largest timestamp (Unix ns) of the
// newline-terminated line protocol lines, and false when no line has one
// (a line without a timestamp takes the server's clock, so it never
// expires).
func newestTime(lines []byte) (int64, bool) {
	var newest int64
	found := false
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		if i < 0 {
			i = len(lines) - 1
		}
		line := bytes.TrimRight(lines[:i+1], "\r\n ")
		lines = lines[i+1:]
		sp := bytes.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		ts, err := strconv.ParseInt(string(line[sp+1:]), 10, 64)
		if err != nil {
			continue
		}
		if !found || ts > newest {
			newest, found = ts, true
		}
	}
	return newest, found
}

// bucket is a token bucket in bytes that lets a request through once no
// debt is left, then charges its size: a request larger than a second's
// worth still goes, and the next one waits it off.
type bucket struct {
	rate  float64 // bytes per second; 0 is no limit
	burst float64
	level float64 // tokens; negative is debt
	at    time.Time
}

func newBucket(rate int64) bucket {
	return bucket{rate: float64(rate), burst: float64(rate), level: float64(rate)}
}

// take waits until the bucket holds no debt, then charges n bytes.
func (b *bucket) take(ctx context.Context, n int, now func() time.Time,
	sleep func(context.Context, time.Duration) error) error {
	if b.rate <= 0 {
		return nil
	}
	t := now()
	b.refill(t)
	if b.level < 0 {
		wait := time.Duration(-b.level / b.rate * float64(time.Second))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		b.level, b.at = 0, t.Add(wait)
	}
	b.level -= float64(n)
	return nil
}

func (b *bucket) refill(t time.Time) {
	switch {
	case b.at.IsZero():
		b.at = t
	case t.After(b.at):
		b.level = min(b.burst, b.level+t.Sub(b.at).Seconds()*b.rate)
		b.at = t
	}
}
