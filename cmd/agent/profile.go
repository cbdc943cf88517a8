//go:build profile

package main

// Profiling hooks, built only with -tags profile (they bring net/http/pprof
// into the binary): the CPU shares quoted in BENCHMARKS.md and in the issue
// notes come from a binary built this way and run under scripts/bench.
//
//	RIVULET_PROFILE_CPU=FILE      write a CPU profile of the first
//	RIVULET_PROFILE_SECONDS=N     N seconds (default 8) to FILE
//	RIVULET_PROFILE_LISTEN=ADDR   serve /debug/pprof/ on ADDR (127.0.0.1:PORT)
//	RIVULET_PROFILE_MEMRATE=N     heap sampling rate (the agent sets 0)

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

func init() {
	if r, err := strconv.Atoi(os.Getenv("RIVULET_PROFILE_MEMRATE")); err == nil && r > 0 {
		// After main has set its own rate.
		go func() { time.Sleep(200 * time.Millisecond); runtime.MemProfileRate = r }()
	}
	if a := os.Getenv("RIVULET_PROFILE_LISTEN"); a != "" {
		go func() { _ = http.ListenAndServe(a, nil) }()
	}
	if f := os.Getenv("RIVULET_PROFILE_CPU"); f != "" {
		sec, err := strconv.Atoi(os.Getenv("RIVULET_PROFILE_SECONDS"))
		if err != nil || sec <= 0 {
			sec = 8
		}
		w, err := os.Create(f)
		if err != nil {
			return
		}
		if pprof.StartCPUProfile(w) != nil {
			w.Close()
			return
		}
		go func() {
			time.Sleep(time.Duration(sec) * time.Second)
			pprof.StopCPUProfile()
			w.Close()
		}()
	}
}
