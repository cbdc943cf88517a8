package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivulet-edge/rivulet/wal"
)

// procSnap is what /proc says about a process at one moment.
type procSnap struct {
	at         time.Time
	cpu        time.Duration // utime + stime
	hwmKB      int64         // VmHWM: peak resident set
	anonPeakKB int64         // highest RssAnon sampled (see watchAnon); 0 if not watched
	rssKB      int64         // VmRSS
	writeBytes int64         // /proc/PID/io write_bytes: bytes sent to the block layer
	wchar      int64         // /proc/PID/io wchar: bytes passed to write(2) and friends
}

func snapProc(pid int) (procSnap, error) {
	s := procSnap{at: time.Now()}
	var err error
	s.cpu, s.hwmKB, err = procStats(pid)
	if err != nil {
		return s, err
	}
	s.rssKB = vmRSS(pid)
	s.anonPeakKB = anonPeak(pid)
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
				s.writeBytes, _ = strconv.ParseInt(v, 10, 64)
			}
			if v, ok := strings.CutPrefix(line, "wchar: "); ok {
				s.wchar, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return s, nil
}

// anonPeaks holds, per watched pid, the highest RssAnon seen (kB).
var anonPeaks sync.Map // int → *atomic.Int64

// watchAnon samples the anonymous part of pid's resident set (RssAnon:
// heap, stacks, the Go runtime's own memory; not the pages of the binary
// and libraries mapped from files, which VmHWM also counts) every 20 ms
// until the process is gone, keeping the highest.
func watchAnon(pid int) {
	peak := new(atomic.Int64)
	anonPeaks.Store(pid, peak)
	go func() {
		for {
			kb := statusKB(pid, "RssAnon:")
			if kb == 0 {
				return
			}
			if kb > peak.Load() {
				peak.Store(kb)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
}

// anonPeak returns the highest RssAnon seen of a watched pid (kB), or 0.
func anonPeak(pid int) int64 {
	if p, ok := anonPeaks.Load(pid); ok {
		return p.(*atomic.Int64).Load()
	}
	return 0
}

// syncTrace is the output file of strace following rivulet's fsync-family
// calls; count reads it.
type syncTrace struct{ path string }

// syncCall matches the start of a call in `strace -f -ttt -y` output, e.g.
// `1234 1700000000.123456 fdatasync(7</d/log/00000001>) = 0` or the same
// ending in `<unfinished ...>`; `<... fsync resumed>` lines do not match.
var syncCall = regexp.MustCompile(`^\d+\s+(\d+\.\d+) (fsync|fdatasync|sync_file_range|syncfs|msync)\((\d+)(<[^>]*>)?`)

// count returns the calls that started in [from, to), in all and by the
// kind of file they synced.
func (s syncTrace) count(from, to time.Time) (int, map[string]int) {
	by := map[string]int{}
	f, err := os.Open(s.path)
	if err != nil {
		return 0, by
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := syncCall.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ts, _ := strconv.ParseFloat(m[1], 64)
		at := time.Unix(0, int64(ts*1e9))
		if at.Before(from) || !at.Before(to) {
			continue
		}
		n++
		by[fileKind(m[4])]++
	}
	return n, by
}

// fileKind names the part of data_dir a synced path belongs to.
func fileKind(path string) string {
	switch {
	case strings.Contains(path, "/log/"):
		return "log"
	case strings.Contains(path, "/outbox-raw/probe"), strings.Contains(path, "/outbox/probe"), strings.Contains(path, "probe.lp"):
		return "probe"
	case strings.Contains(path, "/outbox"):
		return "outbox"
	case strings.Contains(path, "/checkpoints"):
		return "checkpoint"
	case strings.HasSuffix(path, ".lp>"):
		return "sink"
	case strings.HasSuffix(path, "/log>"):
		return "dir"
	}
	return "other" // e.g. the sink's directory after creating its file
}

func formatKinds(by map[string]int, secs float64) string {
	var keys []string
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch r := float64(by[k]) / secs; {
		case r >= 9.5:
			parts = append(parts, fmt.Sprintf("%s %.0f", k, r))
		case r >= 0.05:
			parts = append(parts, fmt.Sprintf("%s %.1f", k, r))
		}
	}
	return strings.Join(parts, ", ")
}

// tailer follows a file that grows by whole lines and records, for each
// probe line, the time it was seen minus the send time in its timestamp.
type tailer struct {
	mu        sync.Mutex
	latencies []time.Duration
	stop      chan struct{}
	done      chan struct{}
}

var probeLine = regexp.MustCompile(`seq=(\d+)i (\d{19})\n`)

// tail polls the file(s) path returns every millisecond; path may change
// (the newest segment of an outbox). Only lines seen after start count.
// With records, the file is an outbox segment: length-prefixed records
// whose points may be compressed (wal.compression), read with
// wal.DecodeEntry; otherwise it is line protocol.
func tail(path func() string, records bool) *tailer {
	t := &tailer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		var cur string
		var off int64
		var rest []byte
		buf := make([]byte, 1<<20)
		seen := map[string]bool{} // an outbox segment rewritten by truncation repeats lines
		var e wal.Entry
		for {
			select {
			case <-t.stop:
				return
			case <-time.After(time.Millisecond):
			}
			p := path()
			if p == "" {
				continue
			}
			if p != cur {
				cur, off, rest = p, 0, nil
			}
			f, err := os.Open(cur)
			if err != nil {
				continue
			}
			n, _ := f.ReadAt(buf, off)
			f.Close()
			if n == 0 {
				continue
			}
			now := time.Now()
			off += int64(n)
			data := append(rest, buf[:n]...)
			var lines []byte
			var cut int
			if records {
				lines, cut = recordPoints(data, &e, lines[:0])
			} else {
				cut = bytes.LastIndexByte(data, '\n') + 1
				lines = data[:cut]
			}
			for _, m := range probeLine.FindAllSubmatch(lines, -1) {
				if seen[string(m[1])] {
					continue
				}
				seen[string(m[1])] = true
				ns, _ := strconv.ParseInt(string(m[2]), 10, 64)
				t.mu.Lock()
				t.latencies = append(t.latencies, now.Sub(time.Unix(0, ns)))
				t.mu.Unlock()
			}
			rest = append([]byte(nil), data[cut:]...)
		}
	}()
	return t
}

// recordPoints appends to dst the points of the whole records at the start
// of data, a part of a tidwall segment in binary mode (each record a
// uvarint length and the bytes), and returns it with the length of data
// they took. Records that do not decode are skipped.
func recordPoints(data []byte, e *wal.Entry, dst []byte) ([]byte, int) {
	off := 0
	for {
		n, k := binary.Uvarint(data[off:])
		if k <= 0 || uint64(len(data)-off-k) < n {
			return dst, off
		}
		if wal.DecodeEntry(data[off+k:off+k+int(n)], e) == nil {
			dst = append(dst, e.Points...)
		}
		off += k + int(n)
	}
}

// finish stops the tailer and returns its latencies sorted.
func (t *tailer) finish() []time.Duration {
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.Slice(t.latencies, func(i, j int) bool { return t.latencies[i] < t.latencies[j] })
	return t.latencies
}

// quantile of sorted d, in milliseconds; NaN when empty.
func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return nan
	}
	i := int(q * float64(len(d)-1))
	return float64(d[i]) / 1e6
}

// newestFile returns the lexically last regular file in dir ("" if none):
// the segment of a tidwall/wal log being written.
func newestFile(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	last := ""
	for _, e := range ents {
		if e.Type().IsRegular() && e.Name() > last && !strings.HasPrefix(e.Name(), ".") && !strings.Contains(e.Name(), "cursor") {
			last = e.Name()
		}
	}
	if last == "" {
		return ""
	}
	return dir + "/" + last
}

// metrics is one scrape of rivulet's /metrics.
type metrics map[string]float64

func scrape(port int) (metrics, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, _ := strconv.ParseFloat(line[i+1:], 64)
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// histQuantile estimates quantile q (ms) of the Prometheus histogram name
// from the bucket counts gained between a and b, interpolating linearly
// inside the bucket (the buckets are coarse: read it as a bracket).
func histQuantile(a, b metrics, name string, q float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range b {
		rest, ok := strings.CutPrefix(k, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - a[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return nan
	}
	target := q * bs[len(bs)-1].n
	lo, prev := 0.0, 0.0
	for _, bk := range bs {
		if bk.n >= target {
			if bk.le > 1e300 { // +Inf: report the last finite bound
				return lo * 1e3
			}
			frac := (target - prev) / max(bk.n-prev, 1)
			return (lo + frac*(bk.le-lo)) * 1e3
		}
		lo, prev = bk.le, bk.n
	}
	return nan
}
