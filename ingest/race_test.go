//go:build race

package ingest

// raceOn is whether the tests run under -race, where sync.Pool drops
// items at random and allocation counts say nothing.
const raceOn = true
