package engine

import (
	"cmp"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

// TestFootprintWindow10k reports the live heap of the harness pipeline's
// window step alone (no detect rule) at 10k series (RIVULET_FOOTPRINT=1;
// with RIVULET_HEAPPROFILE=path it also writes a heap profile).
func TestFootprintWindow10k(t *testing.T) {
	if os.Getenv("RIVULET_FOOTPRINT") == "" {
		t.Skip("set RIVULET_FOOTPRINT=1")
	}
	const series = 10000
	if os.Getenv("RIVULET_HEAPPROFILE") != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	e, err := New(Config{Site: "s1", Steps: harnessSteps()[:1], Checkpoint: DefaultCheckpoint()},
		&memLog{}, map[string]Outbox{"out": &discardOutbox{}}, &memCkpt{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := feedHarness(t, e, series)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	live := m1.HeapAlloc - m0.HeapAlloc
	t.Logf("window step: live heap %d B (%.0f B/series), %d live objects (%.1f/series)",
		live, float64(live)/series, m1.HeapObjects-m0.HeapObjects, float64(m1.HeapObjects-m0.HeapObjects)/series)
	var m2 runtime.MemStats
	data, err := e.snapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m2)
	t.Logf("window step: snapshot %d B, allocated %d B (%.0f B/series) in %d allocs while encoding",
		len(data), m2.TotalAlloc-m1.TotalAlloc, float64(m2.TotalAlloc-m1.TotalAlloc)/series, m2.Mallocs-m1.Mallocs)
	if p := os.Getenv("RIVULET_HEAPPROFILE"); p != "" {
		runtime.GC() // the profile shows the cycle before the last GC
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup(cmp.Or(os.Getenv("RIVULET_PROFILE_KIND"), "heap")).WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	runtime.KeepAlive(e)
}
