package wal

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutboxDiskFull fills a small tmpfs under an outbox: Append fails
// with ENOSPC (no panic, nothing half-visible); once space returns and the
// outbox is reopened, appends go on and every entry that was accepted reads
// back in order. It needs root to mount.
func TestOutboxDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 160<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "outbox")
	opts := Options{SegmentSize: 32 << 10, Quarantine: filepath.Join(t.TempDir(), "q")}
	o, _, err := OpenOutbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { o.Close() }()

	var accepted []uint64
	var full error
	for i := uint64(1); i <= 2000 && full == nil; i++ {
		if err := o.Append(i, line100(i), true); err != nil {
			full = err
			break
		}
		accepted = append(accepted, i)
	}
	t.Logf("full: %v; accepted %d, last index %d, high %d", full, len(accepted), o.log.LastIndex(), o.HighWater())
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", full)
	}
	check := func(o *Outbox, want []uint64) {
		t.Helper()
		got, err := o.Next(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d entries readable, want %d", len(got), len(want))
		}
		for k, e := range got {
			if e.IngestIndex != want[k] || !bytes.Equal(e.Points, line100(want[k])) {
				t.Fatalf("entry %d: ingest %d %q, want %d", k, e.IngestIndex, e.Points, want[k])
			}
		}
	}
	check(o, accepted)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The log reopened itself from its files after the failed write (it
	// cut the torn tail), so the outbox takes appends again at once, with
	// nothing misplaced, and after a reopen too.
	next := accepted[len(accepted)-1] + 1
	if err := o.Append(next, line100(next), true); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	accepted = append(accepted, next)
	check(o, accepted)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if o, _, err = OpenOutbox(dir, opts); err != nil {
		t.Fatal(err)
	}
	check(o, accepted)
	next = accepted[len(accepted)-1] + 1
	for i := next; i < next+5; i++ {
		if err := o.Append(i, line100(i), true); err != nil {
			t.Fatalf("append after space returned: %v", err)
		}
		accepted = append(accepted, i)
	}
	check(o, accepted)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if o, _, err = OpenOutbox(dir, opts); err != nil {
		t.Fatal(err)
	}
	check(o, accepted)
}
