//go:build race

package matcher

// The race detector makes sync.Pool drop items, so regexp allocates.
const raceEnabled = true
